"""The TPU image's TensorFlow/libtpu pair, its download check, and the runtime each TPU generation gets."""

import functools
import http.server
import pathlib
import subprocess
import sys
import threading

import pytest

from trainer import tpu_runtime

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_pjrt_is_set_on_v5e_only():
    assert tpu_runtime.environment("v5e") == {
        "NEXT_PLUGGABLE_DEVICE_USE_C_API": "true",
        "TF_PLUGGABLE_DEVICE_LIBRARY_PATH": "/lib/libtpu.so",
    }
    assert tpu_runtime.environment("v3") == {}  # stream executor: Vertex AI's TPU page sets PJRT for v5e


def test_the_locked_tensorflow_has_a_published_tpu_build():
    runtime = tpu_runtime.runtime_for("2.16.2")  # the lock's patch release has no TPU build; 2.16.1 does
    assert runtime == tpu_runtime.TpuRuntime("2.16.1", "1.10.1", "tpu-vm-tf-2.16.1-pjrt")
    with pytest.raises(KeyError):
        tpu_runtime.runtime_for("2.99.0")


@pytest.fixture
def mirror(tmp_path):
    """An HTTP server in the place of Cloud TPU's download bucket, holding what the table pins."""
    runtime = tpu_runtime.runtime_for("2.16.2")
    for url in (tpu_runtime.wheel_url(runtime), tpu_runtime.libtpu_url(runtime)):
        path = tmp_path / url.removeprefix(tpu_runtime.ARTIFACTS + "/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"artifact")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield tmp_path, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def check(base: str, dockerfile: pathlib.Path) -> subprocess.CompletedProcess:
    """What `make image` runs before it builds anything."""
    return subprocess.run(
        [sys.executable, "-m", "trainer.tpu_runtime", "check", str(dockerfile), str(ROOT / "requirements.lock")],
        capture_output=True,
        text=True,
        env={"SIMCLR_TPU_ARTIFACTS": base, "PATH": "/usr/bin:/bin"},
        cwd=ROOT,
        timeout=60,
    )


def test_make_image_stops_in_one_line_when_a_pinned_download_is_missing(mirror, tmp_path):
    served, base = mirror
    assert check(base, ROOT / "Dockerfile").returncode == 0
    (served / "libtpu" / "1.10.1" / "libtpu.so").unlink()
    result = check(base, ROOT / "Dockerfile")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"error: pinned download {base}/libtpu/1.10.1/libtpu.so is missing (404)"]


def test_a_dockerfile_pin_off_the_table_is_named(mirror, tmp_path):
    _, base = mirror
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(
        (ROOT / "Dockerfile").read_text().replace("TENSORFLOW_VERSION=2.16.1", "TENSORFLOW_VERSION=2.16.2")
    )
    result = check(base, dockerfile)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "error: Dockerfile ARG TENSORFLOW_VERSION=2.16.2, but trainer/tpu_runtime.py pairs 2.16.1"
    ]
