"""gs:// input, for real: the fake GCS bucket on loopback (tests/conftest.py), read through Beam's GcsIO."""

import json

import pytest
from conftest import GCS_BUCKET as BUCKET

from pipeline import cli

pytestmark = pytest.mark.slow(minutes=1)


def test_ingest_from_gs_through_beam(gcs, prefix_dataset, tmp_path, capsys, write_config):
    for path in sorted(prefix_dataset.rglob("*.jpg")):
        gcs.blob(f"datasets/pets/{path.relative_to(prefix_dataset)}").upload_from_filename(str(path))
    gcs.blob("datasets/pets/train/broken.jpg").upload_from_string(b"\xff\xd8 not really")

    config = write_config(ingest={"max_reject_fraction": 0.1})
    code = cli.main(
        [
            "ingest",
            "--config",
            config,
            "--data",
            f"gs://{BUCKET}/datasets/pets",
            "--output",
            str(tmp_path / "run"),
            "--json",
            "--beam-arg=--direct_running_mode=in_memory",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    summary = json.loads(captured.out.strip().splitlines()[-1])
    assert summary["splits"] == {"train": {"written": 12, "rejected": 1}, "test": {"written": 6, "rejected": 0}}
    assert summary["classes"] == ["cat", "dog", "elephant"]
    assert summary["rejected"] == [{"path": "train/broken.jpg", "reason": summary["rejected"][0]["reason"]}]
    assert "cannot tell the class" in summary["rejected"][0]["reason"]


def test_missing_bucket_prefix_is_a_one_line_error(gcs, tmp_path, capsys, write_config):
    code = cli.main(
        ["ingest", "--config", write_config(), "--data", f"gs://{BUCKET}/nothing-here", "--output", str(tmp_path / "r")]
    )
    err = capsys.readouterr().err
    assert code == 2 and "gs://simclr-test-bucket/nothing-here does not exist or is empty" in err


def test_a_storage_error_that_outlasts_the_retries_is_one_line_naming_the_object(
    gcs, fake_gcs, tmp_path, capsys, write_config
):
    from pipeline.offline_cloud.fake_gcs import Faults

    gcs.blob("datasets/locked/train/cat_1.jpg").upload_from_string(b"not read")
    fake_gcs.set_faults(Faults(forbid="datasets/locked"))  # 403: no client retries it
    try:
        code = cli.main(
            [
                "ingest",
                "--config",
                write_config(),
                "--data",
                f"gs://{BUCKET}/datasets/locked",
                "--output",
                str(tmp_path / "r"),
            ]
        )
    finally:
        fake_gcs.set_faults(Faults())
    err = capsys.readouterr().err.strip()
    assert code == cli.EXIT_CLOUD_ERROR and len(err.splitlines()) == 1, err
    assert err.startswith("simclr-tfx: error: storage: ") and f"gs://{BUCKET}/datasets/locked" in err


def test_a_failed_beam_rename_batch_ends_the_run_in_one_line(
    gcs, fake_gcs, prefix_dataset, tmp_path, capsys, write_config
):
    from pipeline.offline_cloud.fake_gcs import Faults

    for path in sorted(prefix_dataset.rglob("*.jpg")):
        gcs.blob(f"datasets/batch/{path.relative_to(prefix_dataset)}").upload_from_filename(str(path))
    fake_gcs.set_faults(Faults(forbid="/batch/"))  # Beam finalises its shards with copy and delete batches
    try:
        code = cli.main(
            [
                "ingest",
                "--config",
                write_config(),
                "--data",
                f"gs://{BUCKET}/datasets/batch",
                "--output",
                str(tmp_path / "r"),
                "--pipeline-root",
                f"gs://{BUCKET}/batch-root",
            ]
        )
    finally:
        fake_gcs.set_faults(Faults())
    err = capsys.readouterr().err.strip().splitlines()
    assert code == cli.EXIT_CLOUD_ERROR and len([line for line in err if "error" in line]) == 1, err
    assert err[-1].startswith("simclr-tfx: error: storage: ") and "batch" in err[-1]


def test_injected_faults_fall_evenly_so_a_run_meets_its_rate_whatever_its_thread_order(gcs, fake_gcs):
    from concurrent.futures import ThreadPoolExecutor

    from pipeline.offline_cloud.fake_gcs import Faults

    gcs.blob("faults/probe.txt").upload_from_string(b"probe")
    fake_gcs.set_faults(Faults(error_rate=0.1, stall_rate=0.05, stall_seconds=0.0, random_state=11))
    try:
        with ThreadPoolExecutor(8) as pool:  # the clients retry every 503
            assert set(pool.map(lambda _: gcs.blob("faults/probe.txt").download_as_bytes(), range(100))) == {b"probe"}
        stats = fake_gcs.stats()
    finally:
        fake_gcs.set_faults(Faults())
    for kind, rate in (("errors_injected", 0.1), ("stalls", 0.05)):
        eligible = stats["eligible"][kind]
        assert eligible >= 100 and abs(stats[kind] - eligible * rate) <= 1, (kind, stats)


def test_a_bucket_is_listed_page_by_page_and_its_fingerprint_follows_its_objects(gcs):
    from components.ingest import image_folder

    names = [f"paged/train/{label}_{n}.jpg" for label in ("cat", "dog") for n in range(3)]
    for name in names:
        gcs.blob(name).upload_from_string(name.encode())
    gcs.blob("paged/train/").upload_from_string(b"")  # a console-made folder placeholder
    root = f"gs://{BUCKET}/paged"

    listed = list(image_folder.gcs_objects(root, page_size=2))  # 4 pages of at most 2 objects

    assert [rel for rel, _, _ in listed] == [name[len("paged/") :] for name in sorted(names)]
    assert [size for _, size, _ in listed] == [len(name) for name in sorted(names)]
    before = image_folder.survey(root)
    assert before.folder_bytes == {"train": sum(len(name) for name in names)}
    assert image_folder.survey(root) == before
    gcs.blob(names[0]).upload_from_string(b"changed")
    assert image_folder.survey(root).fingerprint != before.fingerprint
