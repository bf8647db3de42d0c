"""Floating-point operations of a Keras model, counted by TensorFlow's profiler on its traced graph."""

from trainer import runtime

runtime.configure()  # tf-keras and the CPU backend, before TensorFlow is imported

import tensorflow as tf  # noqa: E402


def forward_flops(model, input_shape) -> int:
    """FLOPs of one forward pass (inference mode) on an input of ``input_shape``, batch dimension included.

    Counted by ``tf.compat.v1.profiler`` over the concrete function's graph: convolutions and
    matmuls as 2 x multiply-adds, plus the element-wise ops it has costs for.
    """
    traced = tf.function(lambda x: model(x, training=False)).get_concrete_function(
        tf.TensorSpec(input_shape, tf.float32)
    )
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    return tf.compat.v1.profiler.profile(graph=traced.graph, options=options).total_float_ops


def training_flops_per_image(encoder, head, image_size: int, views: int = 2) -> float:
    """FLOPs to train on one image: each view's forward pass through encoder and head, x 3 for the backward pass.

    encoder: [batch, image_size, image_size, 3] -> [batch, features]; head: [batch, features] -> [batch, dim].
    """
    features = encoder.output_shape[-1]
    forward = forward_flops(encoder, [1, image_size, image_size, 3]) + forward_flops(head, [1, features])
    return 3.0 * views * forward
