"""Picks the distribution strategy for the hardware present: TPU, several GPUs, or the default.

The TPU is looked for only where one can be (a TPU VM's /dev/accel* devices, or
TPU_NAME set, as on Vertex AI), so that nothing here ever probes the network.
"""

import glob
import os

import tensorflow as tf


def tpu_present() -> bool:
    return bool(os.environ.get("TPU_NAME") or glob.glob("/dev/accel*") or glob.glob("/dev/vfio/[0-9]*"))


def select_strategy() -> tf.distribute.Strategy:
    if tpu_present():
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=os.environ.get("TPU_NAME", "local"))
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    if len(tf.config.list_logical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def is_tpu(strategy: tf.distribute.Strategy) -> bool:
    return isinstance(strategy, (tf.distribute.TPUStrategy, tf.distribute.experimental.TPUStrategy))
