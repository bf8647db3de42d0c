"""The whole local pipeline through the CLI: every component runs, the registry gets a version, a re-run is cached."""

import json
import os

import pytest
import yaml

from components.registry.local import LocalRegistry

pytestmark = pytest.mark.slow(minutes=5)

COMPONENTS = (
    "DataFingerprint",
    "ImageExampleGen",
    "StatisticsGen",
    "SchemaGen",
    "ExampleValidator",
    "AnomalyGate",
    "Transform",
    "SupervisedBaseline",
    "Trainer",
    "FineTuner",
    "Embedder",
    "LinearEval",
    "Blesser",
    "RegistryPusher",
    "ClassifierBlesser",
    "ClassifierPusher",
)


def test_every_component_ran(smoke_pipeline):
    states = {component: smoke_pipeline.run.latest_state(component) for component in COMPONENTS}
    assert states == {component: "COMPLETE" for component in COMPONENTS}


def test_progress_lines_report_each_component_done_once_with_its_place_in_the_pipeline(smoke_pipeline):
    import re

    done = re.findall(r"^\[ *[0-9.]+s\] \((\d+)/(\d+)\) (\w+) complete after [0-9.]+s$", smoke_pipeline.stderr, re.M)
    assert sorted(name for _, _, name in done) == sorted(COMPONENTS), smoke_pipeline.stderr
    assert {(int(place), int(total)) for place, total, _ in done} == {
        (i, len(COMPONENTS)) for i in range(1, len(COMPONENTS) + 1)
    }
    assert done[0][2] == "DataFingerprint" and done[-1][2] == "ClassifierPusher"


def test_run_json_names_metrics_blessing_and_version(smoke_pipeline):
    summary = smoke_pipeline.summary
    assert summary["blessed"] is True and summary["version"] == "1" and summary["pushed_this_run"] is True
    assert set(summary["metrics"]["linear"]) == {"0.01", "0.1", "1"}
    for probe in summary["metrics"]["linear"].values():
        assert 0.0 <= probe["top1_mean"] <= 1.0 and probe["top1_sd"] >= 0.0
    assert 0.0 <= summary["metrics"]["knn_top1"] <= 1.0
    assert set(summary["metrics"]["supervised_baseline"]) == {"0.01", "0.1", "1"}


def test_linear_eval_writes_metrics_plots_and_a_report(smoke_pipeline):
    evaluation = smoke_pipeline.run.latest_outputs("LinearEval")["evaluation"][0]
    names = set(os.listdir(evaluation.uri))
    assert {
        "metrics.json",
        "report.md",
        "tsne.png",
        "confusion_matrix.png",
        "confusion_matrix.csv",
        "loss_curve.png",
    } <= names
    for png in ("tsne.png", "confusion_matrix.png", "loss_curve.png"):
        assert open(os.path.join(evaluation.uri, png), "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    metrics = json.load(open(os.path.join(evaluation.uri, "metrics.json")))
    assert metrics["train_images"] == 8 and metrics["test_images"] == 4 and metrics["classes"] == ["cat", "dog"]
    assert len(metrics["linear"]["0.1"]["top1_per_draw"]) == 2
    assert evaluation.custom_properties["top1_10pct_mean"].double_value == metrics["linear"]["0.1"]["top1_mean"]
    report = open(os.path.join(evaluation.uri, "report.md")).read()
    assert "(tsne.png)" in report and "(confusion_matrix.png)" in report and "(loss_curve.png)" in report
    assert metrics["data_fingerprint"] and metrics["data_fingerprint"] in report
    # The supervised baseline (on in this config) sits beside the probes, one figure per label fraction.
    assert set(metrics["supervised_baseline"]) == set(metrics["linear"])
    baseline = smoke_pipeline.run.latest_outputs("SupervisedBaseline")["baseline"][0]
    assert json.load(open(os.path.join(baseline.uri, "metrics.json")))["supervised"] == metrics["supervised_baseline"]
    supervised = metrics["supervised_baseline"]["0.1"]
    assert supervised["steps"] == 2 and supervised["labels_used"] == metrics["linear"]["0.1"]["labels_used"]
    # ... trained on the very images the probes labelled: draw for draw, the same content hashes.
    probe_digests = metrics["linear"]["0.1"]["subset_digests"]
    assert (
        len(probe_digests) == 2 and supervised["subset_digests"] == probe_digests[: len(supervised["subset_digests"])]
    )
    assert evaluation.custom_properties["supervised_top1_10pct_mean"].double_value == supervised["top1_mean"]
    assert "supervised from scratch" in report and f"{100 * supervised['top1_mean']:.1f} ±" in report


def test_the_embedder_writes_float16_shards_that_the_served_encoder_reproduces(smoke_pipeline):
    import numpy as np
    import pandas as pd
    import tensorflow as tf

    from components.evaluation import embedder, labelled_examples
    from shared import contract

    embeddings = smoke_pipeline.run.latest_outputs("Embedder")["embeddings"][0]
    examples = smoke_pipeline.run.latest_outputs("ImageExampleGen")["examples"][0]
    model = smoke_pipeline.run.latest_outputs("Trainer")["model"][0]
    frame = pd.read_parquet(os.path.join(embeddings.uri, "Split-test"))  # as the module docstring tells users
    features = np.frombuffer(b"".join(frame.embedding), "<f2").reshape(len(frame), -1)
    (ingested,) = labelled_examples.read_examples(labelled_examples.split_files(examples.uri, "test")).batch(100)
    ingested = {name: tensor.numpy() for name, tensor in ingested.items()}
    assert sorted(frame.sha256) == sorted(h.decode() for h in ingested[contract.SHA256])
    served = tf.saved_model.load(embedder.serving_model_dir(model.uri)).signatures["serving_default"]
    expected = served(image_bytes=tf.constant(ingested[contract.IMAGE_BYTES]))["embedding"].numpy()
    order = [list(frame.sha256).index(h.decode()) for h in ingested[contract.SHA256]]
    np.testing.assert_allclose(features[order], expected, rtol=2e-3, atol=2e-3)  # float16
    assert frame.label_id.tolist() == [int(label) for label in ingested[contract.LABEL_ID][np.argsort(order)]]


def test_embed_writes_the_champion_embedding_of_every_image_and_the_reason_for_every_other_file(
    smoke_pipeline, tmp_path, capsys
):
    import numpy as np
    import pandas as pd
    import tensorflow as tf
    from conftest import write_image

    from pipeline import cli

    folder = tmp_path / "photos"
    write_image(folder / "a.jpg", variant=1, image_format="JPEG")
    write_image(folder / "nested" / "b.jpg", variant=2, image_format="PNG")  # PNG content, .jpg name: still embedded
    (folder / "notes.txt").write_text("not an image")
    output = tmp_path / "embedded"
    code = cli.main(
        [
            "embed",
            "--model",
            str(smoke_pipeline.registry),
            "--model-name",
            "simclr-encoder",
            "--data",
            str(folder),
            "--output",
            str(output),
            "--json",
        ]
    )
    assert code == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["embedded"] == 2

    frame = pd.read_parquet(output).sort_values("relative_path")
    assert frame.relative_path.tolist() == ["a.jpg", "nested/b.jpg"] and frame.label_id.tolist() == [-1, -1]
    features = np.frombuffer(b"".join(frame.embedding), "<f2").reshape(2, -1)
    champion = LocalRegistry(str(smoke_pipeline.registry), "simclr-encoder").saved_model_path("1")
    served = tf.saved_model.load(champion).signatures["serving_default"]
    expected = served(
        image_bytes=tf.constant([(folder / "a.jpg").read_bytes(), (folder / "nested" / "b.jpg").read_bytes()])
    )
    np.testing.assert_allclose(features, expected["embedding"].numpy(), rtol=2e-3, atol=2e-3)
    (rejected,) = [json.loads(line) for line in (output / "_rejected.jsonl").read_text().splitlines()]
    assert rejected["path"] == "notes.txt" and rejected["reason"].startswith("not an image")

    code = cli.main(
        [
            "embed",
            "--model",
            str(smoke_pipeline.registry),
            "--model-name",
            "simclr-encoder",
            "--version",
            "7",
            "--data",
            str(folder),
            "--output",
            str(tmp_path / "none"),
        ]
    )
    error = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and error[-1].startswith("simclr-tfx: error: ") and "version 7" in error[-1]


def test_an_exif_rotated_photo_is_embedded_upright_by_ingestion_and_by_embed_alike(smoke_pipeline, tmp_path, capsys):
    """The serving signature decodes bytes as they are (TensorFlow ignores EXIF); ingestion and `embed`
    both prepare them with components/ingest/image_decoding.py, so the same photo gets the same embedding."""
    import numpy as np
    import pandas as pd
    import tensorflow as tf
    from test_image_decoding import exif_rotated_jpeg

    from components.ingest import image_decoding
    from pipeline import cli

    folder = tmp_path / "phone"
    folder.mkdir()
    (folder / "IMG_0001.JPG").write_bytes(exif_rotated_jpeg(6))
    code = cli.main(
        ["embed", "--model", str(smoke_pipeline.registry), "--model-name", "simclr-encoder", "--data", str(folder)]
        + ["--output", str(tmp_path / "embedded")]
    )
    assert code == 0
    capsys.readouterr()
    by_embed = np.frombuffer(pd.read_parquet(tmp_path / "embedded").embedding[0], "<f2").astype(np.float32)

    _, example, _ = image_decoding.ingest_file(  # what ImageExampleGen stores for training
        str(folder / "IMG_0001.JPG"), "IMG_0001.JPG", "cat", {"cat": 0}, 50_000_000
    )
    stored = example.features.feature["image_bytes"].bytes_list.value[0]
    assert tf.io.decode_image(stored).shape[:2] == (40, 20)  # upright
    champion = LocalRegistry(str(smoke_pipeline.registry), "simclr-encoder").saved_model_path("1")
    model = tf.saved_model.load(champion)
    served = model.signatures["serving_default"]
    as_trained = served(image_bytes=tf.constant([stored]))["embedding"].numpy()[0]
    np.testing.assert_allclose(by_embed, as_trained, rtol=2e-3, atol=2e-3)  # float16 Parquet
    sideways = served(image_bytes=tf.constant([(folder / "IMG_0001.JPG").read_bytes()]))["embedding"].numpy()[0]
    assert np.abs(sideways - as_trained).max() > 10 * np.abs(by_embed - as_trained).max()  # raw bytes: not upright


def test_registry_version_carries_its_metadata(smoke_pipeline):
    registry = LocalRegistry(str(smoke_pipeline.registry), "simclr-encoder")
    assert registry.versions() == ["1"] and registry.pointer()["version"] == "1"
    metadata = registry.metadata("1")
    for key in (
        "metrics",
        "config",
        "data_fingerprint",
        "stage_keys",
        "pipeline_run_id",
        "git_revision",
        "pushed_at",
        "blessing",
    ):
        assert metadata[key], key
    assert metadata["config"]["pipeline_name"] == "smoke-test"
    assert os.path.isfile(os.path.join(registry.saved_model_path("1"), "saved_model.pb"))


def test_a_rerun_with_nothing_changed_is_cached_and_pushes_nothing(smoke_pipeline):
    """DataFingerprint looks again (never cached), finds the champion made from this data and these settings:
    every step up to LinearEval comes from the cache, and neither model's Blesser or pusher runs."""
    summary = smoke_pipeline.run_again()
    run = smoke_pipeline.run
    states = {component: run.latest_state(component) for component in COMPONENTS}
    assert states.pop("DataFingerprint") == "COMPLETE"
    decided = ("Blesser", "RegistryPusher", "ClassifierBlesser", "ClassifierPusher")
    cached = [c for c in COMPONENTS if c != "DataFingerprint" and c not in decided]
    assert {c: states.pop(c) for c in cached} == {c: "CACHED" for c in cached}
    assert summary["skipped"] is True and summary["version"] is None and summary["champion_version"] == "1"
    assert "nothing new to train on" in summary["reason"] and summary["pushed_this_run"] is False
    assert LocalRegistry(str(smoke_pipeline.registry), "simclr-encoder").versions() == ["1"]
    assert LocalRegistry(str(smoke_pipeline.registry), "simclr-classifier").versions() == ["1"]


def test_an_emptied_registry_is_read_afresh_and_gets_the_cached_model_blessed_and_pushed(smoke_pipeline, tmp_path):
    """The champion is read on every run: a registry without one gets this run's model, without training again."""
    summary = smoke_pipeline.run_again(registry=tmp_path / "emptied")
    run = smoke_pipeline.run
    assert run.latest_state("Trainer") == run.latest_state("ImageExampleGen") == "CACHED"
    assert run.latest_state("Blesser") == run.latest_state("RegistryPusher") == "COMPLETE"
    assert summary["version"] == "1" and summary["pushed_this_run"] is True
    assert LocalRegistry(str(tmp_path / "emptied"), "simclr-encoder").pointer()["version"] == "1"


def test_the_champion_records_the_keys_that_data_fingerprint_compares(smoke_pipeline):
    from components.ingest.image_folder import fingerprint
    from shared import stage_keys

    registry = LocalRegistry(str(smoke_pipeline.registry), "simclr-encoder")
    champion = registry.show(registry.champion().version)
    assert champion["data_fingerprint"] == fingerprint(str(smoke_pipeline.data))
    settings = stage_keys.stage_settings(champion["config"])
    assert champion["stage_keys"] == stage_keys.stage_keys(champion["data_fingerprint"], settings).model_dump()


def test_a_new_serving_size_re_exports_the_trained_weights(smoke_pipeline, tmp_path, capfd):
    """A training setting changed: ingestion comes from the cache, and the Trainer resumes at its last step."""
    import shutil

    from conftest import smoke_settings

    from pipeline import cli
    from pipeline.local_runner import LocalRun

    output = tmp_path / "run"
    shutil.copytree(smoke_pipeline.run.output, output)
    # fine-tuning and the supervised baseline are not what this test is about: their minutes saved
    config = smoke_settings(training={"encoder": {"eval_image_size": 28}}, finetune=None, supervised_baseline=None)
    (output / "config.yaml").write_text(yaml.safe_dump(config))
    capfd.readouterr()
    code = cli.main(
        [
            "run",
            "--config",
            str(output / "config.yaml"),
            "--data",
            str(smoke_pipeline.data),
            "--output",
            str(output),
            "--registry",
            str(tmp_path / "registry"),
            "--json",
        ]
    )
    log = capfd.readouterr().err
    assert code == 0
    run = LocalRun(str(output), "smoke-test")
    assert run.latest_state("ImageExampleGen") == run.latest_state("Transform") == "CACHED"
    assert run.latest_state("Trainer") == "COMPLETE"
    total_steps = json.loads(
        open(os.path.join(run.latest_outputs("Trainer")["model_run"][0].uri, "history.json")).read()
    )[-1]["step"]
    assert f"at step {total_steps}\n" in log
    assert not [line for line in log.splitlines() if line.startswith("epoch ")]
    model = run.latest_outputs("Trainer")["model"][0].uri
    assert model != smoke_pipeline.run.latest_outputs("Trainer")["model"][0].uri
    assert os.path.isfile(os.path.join(model, "Format-Serving", "saved_model.pb"))
