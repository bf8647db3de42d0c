"""Process-wide TensorFlow settings, applied before TensorFlow is imported.

- Keras: tf-keras (Keras 2), the one tensorflow-transform and TFX 1.16 are
  built for. One Keras per process, chosen on purpose.
- oneDNN: TensorFlow turns its oneDNN CPU kernels on by default only on
  processors with AVX-512 VNNI/BF16/AMX. On AVX2-only CPUs (such as AMD EPYC)
  it falls back to Eigen convolutions, which train ResNet-18 2-4x slower here
  (bench/train_throughput.py). We turn them on unless the user has chosen.

This module must not import TensorFlow; every entry point (CLI, benchmarks,
test workers, the container's environment) calls ``configure()`` first.
"""

import os

SETTINGS = {"TF_USE_LEGACY_KERAS": "1", "TF_ENABLE_ONEDNN_OPTS": "1"}


def configure(quiet: bool = True) -> None:
    os.environ["TF_USE_LEGACY_KERAS"] = SETTINGS["TF_USE_LEGACY_KERAS"]
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", SETTINGS["TF_ENABLE_ONEDNN_OPTS"])
    if quiet:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
