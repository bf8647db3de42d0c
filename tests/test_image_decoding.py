"""Per-file checks and conversion: every format, colour mode and kind of bad file."""

import io
import os

import pytest
import tensorflow as tf
from PIL import Image

from components import image_decoding
from components.image_decoding import ConvertedImage, Rejection, convert_image

LIMIT = 50_000_000


def _encode(mode="RGB", image_format="PNG", size=(20, 10), **save_args) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, color=(200, 10, 10) if mode in ("RGB", "CMYK") and mode == "RGB" else 128).save(
        buffer, format=image_format, **save_args
    )
    return buffer.getvalue()


@pytest.mark.parametrize("image_format, name", [("JPEG", "a.jpg"), ("PNG", "a.png")])
def test_rgb_jpeg_and_png_keep_their_bytes(image_format, name):
    data = _encode(image_format=image_format)
    result = convert_image(data, name, LIMIT)
    assert result == ConvertedImage(data, image_format.lower(), 10, 20)


@pytest.mark.parametrize(
    "mode, image_format, name",
    [
        ("L", "JPEG", "gray.jpeg"),
        ("CMYK", "JPEG", "cmyk.jpg"),
        ("RGBA", "PNG", "alpha.png"),
        ("P", "PNG", "palette.png"),
        ("P", "GIF", "anim.gif"),
        ("RGB", "BMP", "a.bmp"),
        ("RGB", "WEBP", "a.webp"),
        ("I;16", "PNG", "deep.png"),
    ],
)
def test_other_formats_and_modes_become_rgb_png(mode, image_format, name):
    result = convert_image(_encode(mode, image_format), name, LIMIT)
    assert isinstance(result, ConvertedImage), result
    assert (result.image_format, result.height, result.width) == ("png", 10, 20)
    decoded = tf.io.decode_image(result.encoded)
    assert decoded.shape == (10, 20, 3)


def test_gif_keeps_the_first_frame():
    frames = [Image.new("RGB", (8, 8), color) for color in ((255, 0, 0), (0, 0, 255))]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:])
    result = convert_image(buffer.getvalue(), "a.gif", LIMIT)
    pixel = tf.io.decode_png(result.encoded)[0, 0].numpy()
    assert pixel[0] > 200 and pixel[2] < 50


def test_transparent_pixels_become_white():
    buffer = io.BytesIO()
    Image.new("RGBA", (4, 4), (0, 0, 0, 0)).save(buffer, format="PNG")
    result = convert_image(buffer.getvalue(), "a.png", LIMIT)
    assert tf.io.decode_png(result.encoded)[0, 0].numpy().tolist() == [255, 255, 255]


@pytest.mark.parametrize(
    "data, name, reason",
    [
        (b"", "empty.jpg", "empty file"),
        (b"hello, not an image", "notes.jpg", "not an image"),
        (_encode(image_format="JPEG", size=(400, 300))[:-200], "truncated.jpg", "corrupt or truncated"),
        (_encode(image_format="TIFF"), "a.tiff", "unsupported image format TIFF"),
    ],
)
def test_bad_files_are_rejected_with_a_reason(data, name, reason):
    result = convert_image(data, name, LIMIT)
    assert isinstance(result, Rejection)
    assert reason in result.reason


def test_pixel_limit_rejects_from_the_header():
    # 10,000 x 6,000 = 60 MP of one colour: a few KB on disk, 180 MB decoded.
    data = _encode("L", "PNG", size=(10_000, 6_000))
    assert len(data) < 200_000
    result = convert_image(data, "bomb.png", LIMIT)
    assert isinstance(result, Rejection) and "60.0 MP exceeds the 50 MP limit" in result.reason
    assert isinstance(convert_image(_encode(size=(100, 100)), "a.png", 9_999), Rejection)


def test_pil_decompression_bomb_error_is_a_rejection_too():
    data = _encode("1", "PNG", size=(20_000, 20_000))  # 400 MP: PIL itself refuses it
    result = convert_image(data, "huge.png", 10**12)
    assert isinstance(result, Rejection) and "too large" in result.reason


def test_unreadable_file_is_a_rejection(tmp_path):
    link = tmp_path / "dangling.jpg"
    os.symlink(tmp_path / "missing.jpg", link)
    sha256, result, _ = image_decoding.ingest_file(str(link), "dangling.jpg", "cat", {"cat": 0}, LIMIT)
    assert sha256 is None and isinstance(result, Rejection) and result.reason.startswith("unreadable")


def test_example_carries_every_feature(tmp_path):
    data = _encode(image_format="JPEG")
    path = tmp_path / "cat_1.jpg"
    path.write_bytes(data)
    sha256, example, warning = image_decoding.ingest_file(
        str(path), "train/cat_1.jpg", "cat", {"cat": 0, "dog": 1}, LIMIT
    )
    assert warning is None
    features = example.features.feature
    assert features["image_bytes"].bytes_list.value == [data]
    assert features["label"].bytes_list.value == [b"cat"]
    assert features["label_id"].int64_list.value == [0]
    assert features["relative_path"].bytes_list.value == [b"train/cat_1.jpg"]
    assert (features["height"].int64_list.value[0], features["width"].int64_list.value[0]) == (10, 20)
    assert features["sha256"].bytes_list.value == [sha256.encode()] and sha256 == image_decoding.content_hash(data)


@pytest.mark.parametrize(
    "image_format, name", [("JPEG", "mislabelled.png"), ("PNG", "n01440764_1.JPEG"), ("PNG", "noext")]
)
def test_a_valid_image_under_another_extension_is_kept_with_a_warning(image_format, name):
    data = _encode(image_format=image_format)
    result = convert_image(data, name, LIMIT)
    assert isinstance(result, image_decoding.ConvertedImage) and result.image_format == image_format.lower()
    assert result.encoded == data  # the content decides; nothing is re-encoded
    assert f"but {image_format} content" in result.warning
