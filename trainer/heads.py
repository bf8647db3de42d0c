"""The SimCLR projection head: a small MLP on the pooled encoder features.

With batch norm (SimCLR v2) every dense layer is followed by BN and has no
bias, and the last layer has BN without a learned shift. Without it (the seed
notebook's 256-128-50 head) it is plain Dense + ReLU layers.
"""

from typing import Sequence

import tf_keras as keras
from tf_keras import layers


def build_projection_head(
    input_dim: int, widths: Sequence[int], batch_norm: bool = True, sync_bn: bool = False
) -> keras.Model:
    """The projection head g: [batch, input_dim] encoder features -> [batch, widths[-1]] projections.

    Dense layers of ``widths``, ReLU between them; with ``batch_norm`` (SimCLR v2) each dense layer
    is followed by BN and has no bias, and the last BN has no centring.
    """
    inputs = keras.Input((input_dim,), name="features")
    x = inputs
    for index, width in enumerate(widths):
        last = index == len(widths) - 1
        x = layers.Dense(width, use_bias=not batch_norm, kernel_initializer="he_normal", name=f"dense_{index}")(x)
        if batch_norm:
            x = layers.BatchNormalization(
                momentum=0.9, epsilon=1e-5, center=not last, synchronized=sync_bn, name=f"bn_{index}"
            )(x)
        if not last:
            x = layers.ReLU(name=f"relu_{index}")(x)
    return keras.Model(inputs, x, name="projection_head")
