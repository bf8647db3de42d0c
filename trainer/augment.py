"""SimCLR's augmentations, drawn independently for every image (paper, appendix A).

random resized crop -> horizontal flip -> colour jitter (random order, p=0.8)
-> grayscale (p=0.2) -> Gaussian blur (p=0.5). Images are float32 in [0, 1].
``jitter_batch`` is the seed notebook's variant: one draw for a whole batch.
"""

import tensorflow as tf

from trainer.config import AugmentConfig


def _random_apply(transform, image, probability: float):
    return tf.cond(tf.random.uniform([]) < probability, lambda: transform(image), lambda: image)


def random_resized_crop(image, size: int, area=(0.08, 1.0), aspect=(3 / 4, 4 / 3)):
    """A random crop of ``area`` of the image's area and ``aspect`` ratio, resized (bicubic).

    image: [height, width, 3] float32 -> [size, size, 3] float32.
    """
    begin, crop_size, _ = tf.image.sample_distorted_bounding_box(
        tf.shape(image),
        bounding_boxes=tf.constant([0.0, 0.0, 1.0, 1.0], shape=[1, 1, 4]),
        min_object_covered=0.0,
        aspect_ratio_range=aspect,
        area_range=area,
        max_attempts=100,
        use_image_if_no_bounding_boxes=True,
    )
    crop = tf.slice(image, begin, crop_size)
    return tf.image.resize(crop, [size, size], method="bicubic")


def center_crop(image, size: int):
    """The evaluation and serving view: the central square, resized."""
    shape = tf.shape(image)
    side = tf.minimum(shape[0], shape[1])
    crop = tf.image.crop_to_bounding_box(image, (shape[0] - side) // 2, (shape[1] - side) // 2, side, side)
    return tf.image.resize(crop, [size, size], method="bicubic")


def decode_png(png):
    """A stored (Transform output) PNG as a float32 image in [0, 1]."""
    return tf.image.convert_image_dtype(tf.io.decode_png(png, channels=3), tf.float32)


def served_view(png, size: int):
    """A stored PNG as the encoder is served it: decoded, its central square resized to ``size``."""
    return center_crop(decode_png(png), size)


def _brightness(image, strength):
    return image * tf.random.uniform([], tf.maximum(1.0 - 0.8 * strength, 0.0), 1.0 + 0.8 * strength)


def _contrast(image, strength):
    return tf.image.random_contrast(image, 1.0 - 0.8 * strength, 1.0 + 0.8 * strength)


def _saturation(image, strength):
    return tf.image.random_saturation(image, 1.0 - 0.8 * strength, 1.0 + 0.8 * strength)


def _hue(image, strength):
    return tf.image.random_hue(image, 0.2 * strength)


def color_jitter(image, strength: float, random_order: bool = True):
    """Brightness, contrast, saturation and hue jitter, in random order by default (the paper's).

    image: [height, width, 3] float32 in [0, 1] -> the same shape, clipped to [0, 1].
    """
    jitters = [_brightness, _contrast, _saturation, _hue]
    if not random_order:
        for jitter in jitters:
            image = jitter(image, strength)
        return tf.clip_by_value(image, 0.0, 1.0)
    order = tf.random.shuffle(tf.range(len(jitters)))
    for position in range(len(jitters)):
        image = tf.switch_case(order[position], [lambda j=j: j(image, strength) for j in jitters])
        image = tf.clip_by_value(image, 0.0, 1.0)
    return image


def to_grayscale(image):
    """Grey in all three channels, for images of any rank ([..., 3])."""
    return tf.image.grayscale_to_rgb(tf.image.rgb_to_grayscale(image))


def gaussian_blur(image, kernel_size: int, sigma_range=(0.1, 2.0)):
    """A separable Gaussian blur with sigma drawn from ``sigma_range``, edges reflected.

    image: [height, width, 3] float32 -> the same shape.
    """
    sigma = tf.random.uniform([], *sigma_range)
    radius = kernel_size // 2
    offsets = tf.cast(tf.range(-radius, radius + 1), tf.float32)
    weights = tf.exp(-tf.square(offsets) / (2.0 * tf.square(sigma)))
    weights /= tf.reduce_sum(weights)
    horizontal = tf.tile(tf.reshape(weights, [1, -1, 1, 1]), [1, 1, 3, 1])
    vertical = tf.tile(tf.reshape(weights, [-1, 1, 1, 1]), [1, 1, 3, 1])
    padded = tf.pad(image[tf.newaxis], [[0, 0], [radius, radius], [radius, radius], [0, 0]], mode="REFLECT")
    blurred = tf.nn.depthwise_conv2d(padded, horizontal, [1, 1, 1, 1], "VALID")
    blurred = tf.nn.depthwise_conv2d(blurred, vertical, [1, 1, 1, 1], "VALID")
    return blurred[0]


def augment_image(image, size: int, config: AugmentConfig, crop_area=None):
    """One random view of one image ([h, w, 3] in [0, 1]) at [size, size, 3].

    ``crop_area`` overrides ``config.crop_area`` (multi-crop's local views).
    """
    if config.crop:
        image = random_resized_crop(image, size, crop_area or config.crop_area, config.crop_aspect)
    else:
        image = tf.image.resize(image, [size, size])
    if config.flip:
        image = tf.image.random_flip_left_right(image)
    if not config.per_batch_jitter:
        if config.jitter_strength > 0:
            image = _random_apply(
                lambda x: color_jitter(x, config.jitter_strength, config.jitter_random_order),
                image,
                config.jitter_probability,
            )
        image = _random_apply(to_grayscale, image, config.grayscale_probability)
    if config.blur_probability > 0:
        kernel = max(3, int(size * config.blur_kernel_fraction) | 1)
        image = _random_apply(lambda x: gaussian_blur(x, kernel, config.blur_sigma), image, config.blur_probability)
    return tf.clip_by_value(image, 0.0, 1.0)


def local_views(image, config: AugmentConfig):
    """Multi-crop's small views of one image: [local_views, local_view_size, local_view_size, 3]."""
    return tf.stack(
        [
            augment_image(image, config.local_view_size, config, crop_area=config.local_crop_area)
            for _ in range(config.local_views)
        ]
    )


def jitter_batch(images, config: AugmentConfig):
    """The seed notebook's colour distortion: one random draw shared by the whole batch ([..., h, w, 3])."""
    if config.jitter_strength > 0:
        images = _random_apply(
            lambda x: color_jitter(x, config.jitter_strength, config.jitter_random_order),
            images,
            config.jitter_probability,
        )
    return _random_apply(to_grayscale, images, config.grayscale_probability)
