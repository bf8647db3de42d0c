"""The whole local pipeline (LocalDagRunner, DirectRunner) with its data and pipeline root in the fake
GCS bucket, and faults on the wire: requests answered 503, uploads cut off halfway, stalls.

Every client retries what it meets: TensorFlow's GCS filesystem (user agent "TSL") and
google-cloud-storage under Beam's GcsIO ("apache-beam"); the run completes with every artifact whole.
"""

import contextlib
import io
import json

import numpy as np
import pytest
import tensorflow as tf
import yaml
from conftest import GCS_BUCKET, smoke_settings, write_image

from pipeline import cli
from pipeline.local_runner import LocalRun
from pipeline.offline_cloud.fake_gcs import Faults

# JSON batch requests are spared: Beam 2.60 sends its renames' copy and delete batches without retrying the
# batch request itself (Dataflow retries the bundle; the DirectRunner cannot). test_gcs_ingest.py shows
# that such a failure ends the run in one line.
pytestmark = pytest.mark.slow(minutes=2)

FAULTS = Faults(
    error_rate=0.01, drop_upload_rate=0.05, stall_rate=0.005, stall_seconds=1.0, random_state=3, exempt="/batch/"
)
COMPONENTS = (
    "DataFingerprint",
    "ImageExampleGen",
    "StatisticsGen",
    "SchemaGen",
    "ExampleValidator",
    "AnomalyGate",
    "Transform",
    "Trainer",
    "FineTuner",  # reads the Trainer's checkpoint from the bucket and exports the classifier into it
    "Embedder",
    "LinearEval",
    "Blesser",
    "RegistryPusher",
    "ClassifierBlesser",
    "ClassifierPusher",
)


@pytest.fixture(scope="module")
def gcs_run(tmp_path_factory, fake_gcs):
    from google.cloud import storage

    patch = pytest.MonkeyPatch()
    for name, value in fake_gcs.env().items():
        patch.setenv(name, value)
    bucket = storage.Client(project="offline").bucket(GCS_BUCKET)
    local = tmp_path_factory.mktemp("gcs-images")
    for variant, (split, label, n) in enumerate(
        (s, c, n) for s, k in (("train", 4), ("test", 2)) for c in ("cat", "dog") for n in range(k)
    ):
        path = write_image(local / split / f"{label}_{n}.png", variant=200 + variant, size=(60 + 10 * n, 36))
        bucket.blob(f"smoke-data/{split}/{label}_{n}.png").upload_from_filename(str(path))
    output = tmp_path_factory.mktemp("gcs-run")
    config = output / "config.yaml"
    # a classifier to the bucket is enough: one fraction, not distilled, and no supervised baseline
    settings = smoke_settings(supervised_baseline=None, finetune={"label_fractions": [0.1], "distill": None})
    config.write_text(yaml.safe_dump(settings))
    fake_gcs.set_faults(FAULTS)
    stdout = io.StringIO()
    try:
        with contextlib.redirect_stdout(stdout):
            code = cli.main(
                [
                    "run",
                    "--config",
                    str(config),
                    "--data",
                    f"gs://{GCS_BUCKET}/smoke-data",
                    "--output",
                    str(output),
                    "--pipeline-root",
                    f"gs://{GCS_BUCKET}/smoke-root",
                    "--registry",
                    str(output / "registry"),
                    "--json",
                ]
            )
        stats = fake_gcs.stats()
    finally:
        fake_gcs.set_faults(Faults())
    yield {
        "code": code,
        "summary": json.loads(stdout.getvalue().strip().splitlines()[-1]) if code == 0 else None,
        "stats": stats,
        "run": LocalRun(str(output), "smoke-test", f"gs://{GCS_BUCKET}/smoke-root"),
    }
    patch.undo()


def test_the_smoke_pipeline_completes_on_gcs_through_injected_faults(gcs_run):
    assert gcs_run["code"] == 0
    assert {name: gcs_run["run"].latest_state(name) for name in COMPONENTS} == {name: "COMPLETE" for name in COMPONENTS}
    stats = gcs_run["stats"]
    assert stats["errors_injected"] > 0 and stats["uploads_dropped"] > 0 and stats["stalls"] > 0, stats
    assert gcs_run["summary"]["version"] == "1" and gcs_run["summary"]["blessed"] is True


def test_both_storage_clients_met_faults_and_retried_them(gcs_run):
    clients = {entry["client"].split("/")[0] for entry in gcs_run["stats"]["faulted"]}
    assert "TSL" in clients, clients  # TensorFlow's GCS filesystem
    assert "apache-beam" in clients, clients  # google-cloud-storage under Beam's GcsIO (ingestion, TFDV, Transform)


def test_every_artifact_is_whole_in_the_bucket(gcs_run, monkeypatch, fake_gcs):
    for name, value in fake_gcs.env().items():
        monkeypatch.setenv(name, value)
    summary = gcs_run["summary"]
    root = f"gs://{GCS_BUCKET}/smoke-root"
    assert summary["output"].startswith(f"{root}/ImageExampleGen/examples/")
    records = tf.data.TFRecordDataset(tf.io.gfile.glob(f"{summary['output']}/Split-train/*"), compression_type="GZIP")
    assert sum(1 for _ in records) == 8
    assert tf.io.gfile.glob(f"{root}/Transform/transform_graph/*/transform_fn/saved_model.pb")
    assert tf.io.gfile.glob(f"{root}/Trainer/model_run/*/final_checkpoint/ckpt.index")
    # Pushed: the resumable checkpoints are gone, a pointer to the final one stays.
    assert tf.io.gfile.glob(f"{root}/trainer_checkpoints/*/finished.json")
    assert not tf.io.gfile.glob(f"{root}/trainer_checkpoints/*/checkpoint")
    encoder = tf.saved_model.load(summary["pretraining"]["model"]).signatures["serving_default"]
    image = tf.io.encode_png(np.full((30, 40, 3), 128, np.uint8))
    assert encoder(image_bytes=tf.stack([image]))["embedding"].shape[0] == 1
    evaluation = summary["report"].rsplit("/", 1)[0]
    for name in ("report.md", "metrics.json", "confusion_matrix.png", "tsne.png", "loss_curve.png"):
        assert tf.io.gfile.exists(f"{evaluation}/{name}"), name
    assert tf.io.gfile.GFile(f"{evaluation}/tsne.png", "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    assert json.loads(tf.io.gfile.GFile(f"{evaluation}/metrics.json").read())["test_images"] == 4
