"""The ingested examples of a split read back: encoded image, label id and content hash.

SupervisedBaseline reads ImageExampleGen's output this way, keyed (as the Embedder's shards
that LinearEval probes) by the content hash that keys the label subsets.
"""

import os
from typing import List

import tensorflow as tf

from shared import contract

FEATURES = {
    contract.IMAGE_BYTES: tf.io.FixedLenFeature([], tf.string),
    contract.LABEL_ID: tf.io.FixedLenFeature([], tf.int64),
    contract.SHA256: tf.io.FixedLenFeature([], tf.string),
}


def split_files(examples_uri: str, split: str) -> List[str]:
    """The files of ``Split-<split>``, sorted; a one-line error when there are none."""
    files = sorted(tf.io.gfile.glob(os.path.join(examples_uri, f"Split-{split}", "*")))
    if not files:
        raise ValueError(f"no examples for split '{split}' in {examples_uri}")
    return files


def read_examples(files: List[str]) -> tf.data.Dataset:
    """{image_bytes: string [], label_id: int64 [], sha256: string []} per example, in file order."""
    return tf.data.TFRecordDataset(files, compression_type="GZIP").map(
        lambda record: tf.io.parse_single_example(record, FEATURES), num_parallel_calls=tf.data.AUTOTUNE
    )
