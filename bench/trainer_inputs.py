"""Shared by the trainer benchmarks: inputs as the Transform stores them (no pipeline run), and timing."""

import glob
import os
import pathlib
import time

from trainer import runtime  # noqa: E402

runtime.configure()

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from shared import contract  # noqa: E402
from trainer import preprocessing  # noqa: E402

# The shared dataset beside the project, wherever the benchmark is started from.
DEFAULT_DATA = str(pathlib.Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "imagenet-5-categories")

FEATURE_SPEC = {
    contract.IMAGE: tf.io.FixedLenFeature([1], tf.string),
    contract.LABEL_ID: tf.io.FixedLenFeature([1], tf.int64),
    contract.CHANNEL_MEAN: tf.io.FixedLenFeature([3], tf.float32),
    contract.CHANNEL_STD: tf.io.FixedLenFeature([3], tf.float32),
}


def source_images(data_dir: str, count: int):
    """JPEG paths from the dataset's train split, or synthetic JPEGs when it is absent."""
    paths = sorted(glob.glob(os.path.join(data_dir, "train", "*.jpg")))[:count]
    if paths:
        return paths
    scratch = os.path.join("/tmp", "simclr-bench-synthetic")
    os.makedirs(scratch, exist_ok=True)
    rng = np.random.default_rng(0)
    for index in range(count):
        path = os.path.join(scratch, f"img_{index}.jpg")
        if not os.path.exists(path):
            tf.io.write_file(path, tf.io.encode_jpeg(rng.integers(0, 256, (375, 500, 3), dtype=np.uint8)))
        paths.append(path)
    return paths


def write_stored_examples(paths, output_dir: str, stored_size: int = 128):
    """TFRecords shaped like the Transform output: PNG at the stored size and channel statistics."""
    os.makedirs(output_dir, exist_ok=True)
    target = os.path.join(output_dir, "stored.tfrecord.gz")
    with tf.io.TFRecordWriter(target, options="GZIP") as writer:
        for index, path in enumerate(paths):
            png, _, _ = preprocessing.resize_shorter_side(tf.io.read_file(path), stored_size)
            example = tf.train.Example(
                features=tf.train.Features(
                    feature={
                        contract.IMAGE: tf.train.Feature(bytes_list=tf.train.BytesList(value=[png.numpy()])),
                        contract.LABEL_ID: tf.train.Feature(int64_list=tf.train.Int64List(value=[index % 5])),
                        contract.CHANNEL_MEAN: tf.train.Feature(float_list=tf.train.FloatList(value=[0.45, 0.45, 0.4])),
                        contract.CHANNEL_STD: tf.train.Feature(float_list=tf.train.FloatList(value=[0.25, 0.25, 0.25])),
                    }
                )
            )
            writer.write(example.SerializeToString())
    return [target]


def matmul_peak_gflops(size: int = 2048, repeats: int = 20) -> float:
    a = tf.random.normal([size, size])
    b = tf.random.normal([size, size])
    product = tf.function(lambda x, y: tf.matmul(x, y))
    product(a, b).numpy()
    best = 0.0
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(repeats):
            result = product(a, b)
        result.numpy()
        best = max(best, 2 * size**3 * repeats / (time.perf_counter() - start) / 1e9)
    return best


def images_per_s(step, warmup: int, steps: int, images_per_step: int) -> float:
    """Calls step() warmup times untimed, then times `steps` calls."""
    for _ in range(warmup):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return images_per_step * steps / (time.perf_counter() - start)
