"""The TensorFlow/libtpu pair that the TPU image installs, and the runtime each TPU generation needs.

Sources (the only place these facts are written; the Dockerfile's ARGs and the Makefile's
download check are tested against them):

* Cloud TPU, "TPU software versions" (https://cloud.google.com/tpu/docs/runtimes, formerly
  supported-tpu-versions): the TensorFlow TPU VM software versions are ``tpu-vm-tf-2.16.1-pjrt``
  and ``tpu-vm-tf-2.16.1-se`` for TensorFlow 2.16; there is no 2.16.2 TPU build.
* Cloud TPU, "Supported TPU configurations" (https://cloud.google.com/tpu/docs/supported-tpu-configurations):
  the libtpu release built with each TensorFlow release (2.16.1: libtpu 1.10.1).
* Vertex AI, "Training with TPU accelerators"
  (https://cloud.google.com/vertex-ai/docs/training/training-with-tpu-vm): a custom container
  installs the TPU VM build of TensorFlow and saves ``libtpu.so`` in ``/lib``; "TensorFlow
  training on TPU v5e requires the PJRT runtime", enabled by the two variables below. TPU v2 and
  v3 keep the default stream-executor runtime, so they get neither.
"""

import os
import re
import sys
import urllib.error
import urllib.request
from typing import Dict, List, NamedTuple

# Cloud TPU's download bucket; SIMCLR_TPU_ARTIFACTS points the check at a mirror (or a test's server).
ARTIFACTS = os.environ.get("SIMCLR_TPU_ARTIFACTS", "https://storage.googleapis.com/cloud-tpu-tpuvm-artifacts")


class TpuRuntime(NamedTuple):
    tensorflow: str  # the TPU VM build of TensorFlow
    libtpu: str  # the libtpu release Cloud TPU pairs with it
    software_version: str  # the Cloud TPU software version that ships the same pair (PJRT flavour)


# TensorFlow minor version (the lock's) -> the pair the TPU image installs.
RUNTIMES: Dict[str, TpuRuntime] = {
    "2.15": TpuRuntime("2.15.1", "1.9.0", "tpu-vm-tf-2.15.1-pjrt"),
    "2.16": TpuRuntime("2.16.1", "1.10.1", "tpu-vm-tf-2.16.1-pjrt"),
}

# TPU generations whose TensorFlow runtime is PJRT (Vertex AI's TPU training page: v5e).
PJRT_GENERATIONS = frozenset({"v5e"})
PJRT_ENV = {"NEXT_PLUGGABLE_DEVICE_USE_C_API": "true", "TF_PLUGGABLE_DEVICE_LIBRARY_PATH": "/lib/libtpu.so"}


def runtime_for(tensorflow_version: str) -> TpuRuntime:
    """The TPU pair for a locked TensorFlow release (same minor version); KeyError if Cloud TPU has none."""
    return RUNTIMES[".".join(tensorflow_version.split(".")[:2])]


def wheel_url(runtime: TpuRuntime) -> str:
    version = runtime.tensorflow
    return (
        f"{ARTIFACTS}/tensorflow/tf-{version}/"
        f"tensorflow-{version}-cp310-cp310-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
    )


def libtpu_url(runtime: TpuRuntime) -> str:
    return f"{ARTIFACTS}/libtpu/{runtime.libtpu}/libtpu.so"


def environment(generation: str) -> Dict[str, str]:
    """The container variables a training job on this TPU generation needs (empty off PJRT)."""
    return dict(PJRT_ENV) if generation in PJRT_GENERATIONS else {}


def dockerfile_pins(dockerfile_text: str) -> Dict[str, str]:
    """The Dockerfile's ``ARG NAME=value`` defaults."""
    return dict(re.findall(r"^ARG (\w+)=(\S+)", dockerfile_text, flags=re.M))


def problems(dockerfile_text: str, lock_text: str) -> List[str]:
    """What stops the TPU image from building as pinned: a pair off the table, or a download that is missing."""
    locked = re.search(r"^tensorflow==(\S+)", lock_text, flags=re.M)
    if not locked:
        return ["requirements.lock pins no tensorflow"]
    try:
        runtime = runtime_for(locked.group(1))
    except KeyError:
        return [f"Cloud TPU has no TPU build of the locked tensorflow {locked.group(1)} (trainer/tpu_runtime.py)"]
    pins = dockerfile_pins(dockerfile_text)
    found = []
    for arg, expected in (("TENSORFLOW_VERSION", runtime.tensorflow), ("LIBTPU_VERSION", runtime.libtpu)):
        if pins.get(arg) != expected:
            found.append(f"Dockerfile ARG {arg}={pins.get(arg)}, but trainer/tpu_runtime.py pairs {expected}")
    for url in (wheel_url(runtime), libtpu_url(runtime)):
        try:
            urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=30).close()
        except (urllib.error.URLError, OSError) as error:
            found.append(f"pinned download {url} is missing ({getattr(error, 'code', None) or error})")
    return found


def main(argv: List[str]) -> int:
    """``python -m trainer.tpu_runtime check Dockerfile requirements.lock``: one line per problem, before a build."""
    if len(argv) != 3 or argv[0] != "check":
        print("usage: python -m trainer.tpu_runtime check DOCKERFILE REQUIREMENTS_LOCK", file=sys.stderr)
        return 2
    with open(argv[1]) as dockerfile, open(argv[2]) as lock:
        found = problems(dockerfile.read(), lock.read())
    for problem in found:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
