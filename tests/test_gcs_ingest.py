"""gs:// input, for real: a GCS JSON API emulator on loopback, read through Beam's GcsIO."""

import json
import socket
import subprocess
import sys
import time

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from pipeline import cli

BUCKET = "simclr-test-bucket"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def gcs_emulator(monkeypatch):
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gcp_storage_emulator", "start", "--host", "127.0.0.1", "--port", str(port),
         "--in-memory", "--default-bucket", BUCKET, "--quiet"],
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("the GCS emulator did not start")
                time.sleep(0.2)
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{port}")
        yield storage.Client(project="test", credentials=AnonymousCredentials()).bucket(BUCKET)
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_ingest_from_gs_through_beam(gcs_emulator, prefix_dataset, tmp_path, capsys, write_config):
    for path in sorted(prefix_dataset.rglob("*.jpg")):
        gcs_emulator.blob(f"datasets/pets/{path.relative_to(prefix_dataset)}").upload_from_filename(str(path))
    gcs_emulator.blob("datasets/pets/train/broken.jpg").upload_from_string(b"\xff\xd8 not really")

    config = write_config(ingest={"max_reject_fraction": 0.1})
    code = cli.main([
        "ingest", "--config", config, "--data", f"gs://{BUCKET}/datasets/pets", "--output", str(tmp_path / "run"),
        "--json", "--beam-arg=--direct_running_mode=in_memory",
    ])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    summary = json.loads(captured.out.strip().splitlines()[-1])
    assert summary["splits"] == {"train": {"written": 12, "rejected": 1}, "test": {"written": 6, "rejected": 0}}
    assert summary["classes"] == ["cat", "dog", "elephant"]
    assert summary["rejected"] == [{"path": "train/broken.jpg", "reason": summary["rejected"][0]["reason"]}]
    assert "cannot tell the class" in summary["rejected"][0]["reason"]


def test_missing_bucket_prefix_is_a_one_line_error(gcs_emulator, tmp_path, capsys, write_config):
    code = cli.main(["ingest", "--config", write_config(), "--data", f"gs://{BUCKET}/nothing-here", "--output", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and "gs://simclr-test-bucket/nothing-here does not exist or is empty" in err
