"""The tensorflow-transform preprocessing graph shared by training and serving.

It decodes each image, resizes it so that its shorter side is ``stored_size``
pixels (stored re-encoded as PNG, cheap to decode during training), builds the
label vocabulary, and computes the per-channel mean and std of the pixels.
The same graph runs inside the exported serving signature.
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_transform as tft

from components.image_decoding import IMAGE_KEY, LABEL_KEY

IMAGE = "image"  # PNG bytes, shorter side = stored_size
LABEL = "label"
LABEL_ID = "label_id"  # index in the 'label' vocabulary of the transform output
CHANNEL_MEAN = "channel_mean"  # [3], pixel values scaled to [0, 1]
CHANNEL_STD = "channel_std"
LABEL_VOCABULARY = "label"
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
    """tf.Transform entry point (Transform's ``preprocessing_fn``)."""
    stored_size = int((custom_config or {}).get("stored_size", DEFAULT_STORED_SIZE))
    encoded = _dense(inputs[IMAGE_KEY])
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
        IMAGE: images,
        CHANNEL_MEAN: tf.broadcast_to(channel_mean, tf.concat([batch, [3]], 0)),
        CHANNEL_STD: tf.broadcast_to(channel_std, tf.concat([batch, [3]], 0)),
    }
    if LABEL_KEY in inputs:
        label = _dense(inputs[LABEL_KEY])
        outputs[LABEL] = label
        outputs[LABEL_ID] = tft.compute_and_apply_vocabulary(label, vocab_filename=LABEL_VOCABULARY)
    return outputs
