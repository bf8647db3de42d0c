"""The ingested examples of a split read back: encoded image, label id and content hash.

SupervisedBaseline and FineTuner read ImageExampleGen's output this way (``LabelledSplits``), keyed
(as the Embedder's shards that LinearEval probes) by the content hash that keys the label subsets:
first only the label ids and hashes (about 90 MB at 1.28 M images), then the chosen examples' images,
stored on the fly as the Transform graph stores them for pretraining.
"""

import os
from typing import List, Optional

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft

from shared import contract
from trainer import supervised

READ_BATCH = 64

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


def labels_and_keys(files: List[str]):
    """(label ids [n], content hashes [n]) of every example, in file order; the images are not kept."""
    labels, keys = [], []
    for batch in read_examples(files).batch(4096):
        labels.append(batch[contract.LABEL_ID].numpy())
        keys.append(batch[contract.SHA256].numpy())
    return np.concatenate(labels), np.concatenate(keys)


def stored_images(files: List[str], transform_layer, chosen_keys: Optional[np.ndarray] = None) -> tf.data.Dataset:
    """(stored PNG bytes, label id) of the examples (those whose content hash is in ``chosen_keys``, when given),
    each image stored by the Transform graph as pretraining stores it."""
    examples = read_examples(files)
    if chosen_keys is not None:
        chosen = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(tf.constant(chosen_keys), tf.ones(len(chosen_keys), tf.int64)), 0
        )
        examples = examples.filter(lambda example: chosen.lookup(example[contract.SHA256]) == 1)

    def store(batch):
        stored = transform_layer({contract.IMAGE_BYTES: tf.reshape(batch[contract.IMAGE_BYTES], [-1, 1])})
        return tf.reshape(stored[contract.IMAGE], [-1]), batch[contract.LABEL_ID]

    return examples.batch(READ_BATCH).map(store).unbatch()


def channel_statistics(files: List[str], transform_layer):
    """The channel mean and std the Transform analysers computed (the same on every record)."""
    first = next(iter(read_examples(files[:1]).batch(1)))
    stored = transform_layer({contract.IMAGE_BYTES: tf.reshape(first[contract.IMAGE_BYTES], [-1, 1])})
    return stored[contract.CHANNEL_MEAN].numpy()[0], stored[contract.CHANNEL_STD].numpy()[0]


class LabelledSplits:
    """The train split's label ids and content hashes, its channel statistics and the evaluation split's
    stored images (kept in memory after one pass when there are at most ``supervised.CACHED_IMAGES``)."""

    def __init__(self, examples_uri: str, transform_graph_uri: str, train_split: str, eval_split: str):
        self.examples_uri = examples_uri
        self.transform_layer = tft.TFTransformOutput(transform_graph_uri).transform_features_layer()
        self.train_files = split_files(examples_uri, train_split)
        self.train_labels, self.train_hashes = labels_and_keys(self.train_files)
        self.channel_stats = channel_statistics(self.train_files, self.transform_layer)
        test_files = split_files(examples_uri, eval_split)
        self.test_count = count_examples(test_files)
        self.test_images = stored_images(test_files, self.transform_layer)
        if self.test_count <= supervised.CACHED_IMAGES:  # stored once for every classifier's score
            self.test_images = self.test_images.cache()

    def train_images(self, subset: Optional[np.ndarray] = None) -> tf.data.Dataset:
        """(stored PNG bytes, label id) of the train images at indices ``subset`` (None: all)."""
        keys = None if subset is None else self.train_hashes[subset]
        return stored_images(self.train_files, self.transform_layer, keys)

    def train_images_outside(self, subset: np.ndarray) -> tf.data.Dataset:
        """The train images not in ``subset``: held out from a classifier trained on ``subset``."""
        return self.train_images(np.setdiff1d(np.arange(len(self.train_labels)), subset))

    def split_images(self, split: str):
        """(stored images, count) of another split, e.g. the unlabelled one; (None, 0) when it has no files."""
        files = sorted(tf.io.gfile.glob(os.path.join(self.examples_uri, f"Split-{split}", "*")))
        if not files:
            return None, 0
        return stored_images(files, self.transform_layer), count_examples(files)


def count_examples(files: List[str]) -> int:
    """Records in ``files``, read without parsing them."""
    return int(tf.data.TFRecordDataset(files, compression_type="GZIP").reduce(np.int64(0), lambda n, _: n + 1))
