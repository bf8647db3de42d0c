"""ResNet-10/18/34/50 encoders (v1.5) with a width multiplier and two stems.

The ImageNet stem is a 7x7 stride-2 convolution and a max-pool; the small-image
stem (for inputs of 64 px or less, as in SimCLR's CIFAR setting) is a 3x3
stride-1 convolution with no pool. Batch norm can be synchronised across
replicas. The output is the globally pooled feature vector.
"""

import tf_keras as keras
from tf_keras import layers

BLOCKS = {
    10: ("basic", (1, 1, 1, 1)),
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
}
SMALL_STEM_MAX_SIZE = 64


def _batch_norm(synchronized: bool, zero_init: bool = False) -> layers.Layer:
    return layers.BatchNormalization(
        momentum=0.9,
        epsilon=1e-5,
        synchronized=synchronized,
        gamma_initializer="zeros" if zero_init else "ones",
    )


def _conv(filters: int, kernel: int, stride: int = 1) -> layers.Layer:
    return layers.Conv2D(
        filters, kernel, strides=stride, padding="same", use_bias=False, kernel_initializer="he_normal"
    )


def _basic_block(x, filters: int, stride: int, sync_bn: bool):
    shortcut = x
    if stride != 1 or x.shape[-1] != filters:
        shortcut = _batch_norm(sync_bn)(_conv(filters, 1, stride)(x))
    y = layers.ReLU()(_batch_norm(sync_bn)(_conv(filters, 3, stride)(x)))
    y = _batch_norm(sync_bn, zero_init=True)(_conv(filters, 3)(y))
    return layers.ReLU()(layers.Add()([shortcut, y]))


def _bottleneck_block(x, filters: int, stride: int, sync_bn: bool):
    shortcut = x
    if stride != 1 or x.shape[-1] != 4 * filters:
        shortcut = _batch_norm(sync_bn)(_conv(4 * filters, 1, stride)(x))
    y = layers.ReLU()(_batch_norm(sync_bn)(_conv(filters, 1)(x)))
    y = layers.ReLU()(_batch_norm(sync_bn)(_conv(filters, 3, stride)(y)))
    y = _batch_norm(sync_bn, zero_init=True)(_conv(4 * filters, 1)(y))
    return layers.ReLU()(layers.Add()([shortcut, y]))


def resolve_stem(stem: str, image_size: int) -> str:
    if stem == "auto":
        return "small" if image_size <= SMALL_STEM_MAX_SIZE else "imagenet"
    return stem


def build_resnet(
    depth: int = 18, width_multiplier: float = 1.0, image_size: int = 96, stem: str = "auto", sync_bn: bool = False
) -> keras.Model:
    """A ResNet that maps [batch, height, width, 3] normalised images to [batch, features].

    It is fully convolutional up to global pooling, so it takes any input size; ``image_size``
    (the training size) only picks the stem when ``stem`` is "auto".
    """
    if depth not in BLOCKS:
        raise ValueError(f"ResNet depth must be one of {sorted(BLOCKS)}, not {depth}")
    kind, repeats = BLOCKS[depth]
    block = _basic_block if kind == "basic" else _bottleneck_block
    width = lambda channels: max(8, int(round(channels * width_multiplier)))  # noqa: E731

    inputs = keras.Input((None, None, 3), name="image")
    if resolve_stem(stem, image_size) == "imagenet":
        x = layers.ReLU()(_batch_norm(sync_bn)(_conv(width(64), 7, 2)(inputs)))
        x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
    else:
        x = layers.ReLU()(_batch_norm(sync_bn)(_conv(width(64), 3, 1)(inputs)))
    for stage, count in enumerate(repeats):
        for index in range(count):
            stride = 2 if stage > 0 and index == 0 else 1
            x = block(x, width(64 * 2**stage), stride, sync_bn)
    features = layers.GlobalAveragePooling2D(name="pooled")(x)
    return keras.Model(inputs, features, name=f"resnet{depth}")
