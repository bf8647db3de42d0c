"""The tensorflow-transform preprocessing graph shared by training and serving.

It decodes each image, resizes it so that its shorter side is ``stored_size``
pixels (stored re-encoded as PNG, cheap to decode during training), computes the
per-channel mean and std of the pixels, and passes the label and ingestion's class id
through (one numbering of classes everywhere: the sorted class names).
The same graph runs inside the exported serving signature, where there is no label.
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_transform as tft

from shared import contract

DEFAULT_STORED_SIZE = 128


def _dense(tensor) -> tf.Tensor:
    """A [batch] tensor from a [batch, 1] dense or sparse feature."""
    if isinstance(tensor, tf.SparseTensor):
        tensor = tf.sparse.to_dense(tensor, default_value="" if tensor.dtype == tf.string else 0)
    return tf.reshape(tensor, [-1])


def resize_shorter_side(encoded: tf.Tensor, stored_size: int):
    """Decodes one image and resizes it; returns (PNG bytes, channel means, channel means of squares)."""
    image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
    height_width = tf.cast(tf.shape(image)[:2], tf.float32)
    scale = stored_size / tf.reduce_min(height_width)
    new_size = tf.cast(tf.round(height_width * scale), tf.int32)
    resized = tf.image.resize(image, new_size, antialias=True)
    resized = tf.cast(tf.clip_by_value(tf.round(resized), 0.0, 255.0), tf.uint8)
    pixels = tf.cast(resized, tf.float32) / 255.0
    return (
        tf.io.encode_png(resized),
        tf.reduce_mean(pixels, axis=[0, 1]),
        tf.reduce_mean(tf.square(pixels), axis=[0, 1]),
    )


def preprocessing_fn(inputs, custom_config=None):
    """tf.Transform entry point (Transform's ``preprocessing_fn``).

    inputs: ImageExampleGen's features, each [batch, 1] (contract.IMAGE_BYTES, and when
    labelled contract.LABEL, contract.LABEL_ID). Returns [batch] contract.IMAGE (PNG bytes),
    [batch, 3] float32 contract.CHANNEL_MEAN and contract.CHANNEL_STD, and [batch]
    contract.LABEL and contract.LABEL_ID when the inputs have them.
    """
    stored_size = int((custom_config or {}).get("stored_size", DEFAULT_STORED_SIZE))
    encoded = _dense(inputs[contract.IMAGE_BYTES])
    images, means, squares = tf.map_fn(
        lambda image: resize_shorter_side(image, stored_size),
        encoded,
        fn_output_signature=(
            tf.TensorSpec([], tf.string),
            tf.TensorSpec([3], tf.float32),
            tf.TensorSpec([3], tf.float32),
        ),
    )
    channel_mean = tft.mean(means, reduce_instance_dims=False)
    channel_std = tf.sqrt(tf.maximum(tft.mean(squares, reduce_instance_dims=False) - tf.square(channel_mean), 1e-12))
    batch = tf.shape(encoded)[:1]
    outputs = {
        contract.IMAGE: images,
        contract.CHANNEL_MEAN: tf.broadcast_to(channel_mean, tf.concat([batch, [3]], 0)),
        contract.CHANNEL_STD: tf.broadcast_to(channel_std, tf.concat([batch, [3]], 0)),
    }
    for key in (contract.LABEL, contract.LABEL_ID):
        if key in inputs:
            outputs[key] = _dense(inputs[key])
    return outputs
