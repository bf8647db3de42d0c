"""Picks the distribution strategy for the hardware present: TPU, several GPUs, or the default.

The TPU is looked for only where one can be, so that nothing here ever probes the network:
the chips attached to this machine (a TPU VM's /dev/accel* or /dev/vfio devices, as on a
Vertex AI v5e host), else a TPU named by TPU_NAME. Attached chips always win: any TPU_NAME
other than ``local`` makes the resolver ask the Cloud TPU API for a separate TPU node.
"""

import glob
import os
from typing import Optional

import tensorflow as tf


def tpu_address() -> Optional[str]:
    """``local`` when TPU chips are attached, else TPU_NAME, else None (no TPU)."""
    if glob.glob("/dev/accel*") or glob.glob("/dev/vfio/[0-9]*"):
        return "local"
    return os.environ.get("TPU_NAME") or None


def select_strategy() -> tf.distribute.Strategy:
    address = tpu_address()
    if address:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=address)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    if len(tf.config.list_logical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def is_tpu(strategy: tf.distribute.Strategy) -> bool:
    return isinstance(strategy, (tf.distribute.TPUStrategy, tf.distribute.experimental.TPUStrategy))


NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})  # Linux's /proc/cpuinfo names for them


def cpu_has_native_bf16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """True when this CPU computes bfloat16 in hardware (AVX-512 BF16 or AMX); elsewhere TensorFlow emulates it,
    which is slower than float32. False where the flags cannot be read (not Linux)."""
    try:
        with open(cpuinfo) as lines:  # a local system file, never an artifact
            flags = {flag for line in lines if line.startswith("flags") for flag in line.split(":", 1)[1].split()}
    except OSError:
        return False
    return bool(flags & NATIVE_BF16_FLAGS)
