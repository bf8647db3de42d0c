"""The ingested examples of a split read back for evaluation: encoded image, label id and content hash.

LinearEval and SupervisedBaseline both read ImageExampleGen's output this way, so they see
the same images under the same keys (the content hash that keys the probes' label subsets).
"""

import os
from typing import Callable, Dict

import numpy as np
import tensorflow as tf

from components import image_decoding

FEATURES = {
    image_decoding.IMAGE_KEY: tf.io.FixedLenFeature([], tf.string),
    image_decoding.LABEL_ID_KEY: tf.io.FixedLenFeature([], tf.int64),
    image_decoding.HASH_KEY: tf.io.FixedLenFeature([], tf.string),
}


def read_split(examples_uri: str, split: str, images_fn: Callable[[tf.Tensor], Dict[str, np.ndarray]],
               batch_size: int = 64) -> Dict[str, np.ndarray]:
    """Every example of ``Split-<split>`` in file order: label ids, content hashes and what ``images_fn`` makes.

    ``images_fn`` maps a batch of encoded images to named arrays (embeddings, stored images, ...);
    each name's arrays are concatenated over the batches, beside ``label_id`` and ``sha256``.
    """
    files = tf.io.gfile.glob(os.path.join(examples_uri, f"Split-{split}", "*"))
    if not files:
        raise ValueError(f"no examples for split '{split}' in {examples_uri}")
    dataset = (tf.data.TFRecordDataset(sorted(files), compression_type="GZIP")
               .map(lambda record: tf.io.parse_single_example(record, FEATURES)).batch(batch_size))
    columns: Dict[str, list] = {}
    for batch in dataset:
        arrays = {key: batch[key].numpy() for key in (image_decoding.LABEL_ID_KEY, image_decoding.HASH_KEY)}
        arrays.update(images_fn(batch[image_decoding.IMAGE_KEY]))
        for name, array in arrays.items():
            columns.setdefault(name, []).append(array)
    return {name: np.concatenate(arrays) for name, arrays in columns.items()}
