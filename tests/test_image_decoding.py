"""Per-file checks and conversion: every format, colour mode and kind of bad file."""

import io
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from components.ingest import image_decoding
from components.ingest.image_decoding import ConvertedImage, Rejection, convert_image

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
        ("RGB", "TIFF", "scan.tif"),
        ("I;16", "TIFF", "scan16.tiff"),
        ("RGB", "AVIF", "a.avif"),  # Pillow decodes AVIF: accepted and re-encoded
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
        (_encode(image_format="PPM"), "a.ppm", "unsupported image format PPM"),
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


def gradient_16_bit(width: int = 256, height: int = 4) -> np.ndarray:
    """A horizontal ramp over the whole 16-bit range, 0 to 65535."""
    return np.tile(np.linspace(0, 65535, width).round().astype(np.uint16), (height, 1))


@pytest.mark.parametrize("image_format, name", [("PNG", "deep.png"), ("TIFF", "deep.tif")])
def test_a_16_bit_grayscale_gradient_keeps_its_range_within_one_level(image_format, name):
    ramp = gradient_16_bit()
    buffer = io.BytesIO()
    Image.fromarray(ramp).save(buffer, format=image_format)  # mode I;16
    result = convert_image(buffer.getvalue(), name, LIMIT)
    assert isinstance(result, ConvertedImage) and result.image_format == "png"
    decoded = tf.io.decode_png(result.encoded).numpy().astype(int)
    expected = ramp.astype(float) * 255 / 65535
    assert decoded[..., 0].min() == 0 and decoded[..., 0].max() == 255  # not clipped to near-white
    assert np.abs(decoded[..., 0] - expected).max() <= 1.0
    assert (decoded[..., 0] == decoded[..., 1]).all() and (decoded[..., 1] == decoded[..., 2]).all()


def test_a_16_bit_rgb_png_is_re_encoded_at_8_bits_within_one_level():
    ramp = gradient_16_bit()
    rgb = np.stack([ramp, ramp[:, ::-1], np.full_like(ramp, 40000)], axis=-1)
    data = tf.io.encode_png(tf.constant(rgb)).numpy()  # 48 bits per pixel
    result = convert_image(data, "deep-rgb.png", LIMIT)
    assert isinstance(result, ConvertedImage) and result.encoded != data
    assert data[24] == 16 and result.encoded[24] == 8  # IHDR bit depth
    decoded = tf.io.decode_png(result.encoded).numpy().astype(float)
    assert np.abs(decoded - rgb.astype(float) * 255 / 65535).max() <= 1.0


def exif_rotated_jpeg(orientation: int = 6) -> bytes:
    """A JPEG stored on its side, as phones write them: 40 wide, 20 high, red on the left half, with the
    EXIF orientation that says "rotate 90 degrees clockwise to view" (6)."""
    pixels = np.zeros((20, 40, 3), np.uint8)
    pixels[:, :20] = (220, 20, 20)
    pixels[:, 20:] = (20, 20, 220)
    exif = Image.Exif()
    exif[image_decoding.EXIF_ORIENTATION] = orientation
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=95, exif=exif.tobytes())
    return buffer.getvalue()


def test_an_exif_rotated_photo_is_stored_upright():
    result = convert_image(exif_rotated_jpeg(6), "IMG_0001.JPG", LIMIT)
    assert isinstance(result, ConvertedImage) and result.image_format == "png"
    assert (result.height, result.width) == (40, 20)  # upright: taller than wide
    upright = tf.io.decode_png(result.encoded).numpy().astype(int)
    assert upright.shape == (40, 20, 3)
    # Rotated 90 degrees clockwise, the stored left half (red) is now the top half.
    assert upright[5, 10, 0] > 150 and upright[5, 10, 2] < 100
    assert upright[35, 10, 2] > 150 and upright[35, 10, 0] < 100
    already = convert_image(exif_rotated_jpeg(1), "upright.jpg", LIMIT)
    assert already.encoded == exif_rotated_jpeg(1)  # orientation 1 needs nothing: the bytes are kept


def test_a_multi_picture_jpeg_keeps_its_first_picture():
    first, second = Image.new("RGB", (24, 16), (250, 0, 0)), Image.new("RGB", (24, 16), (0, 0, 250))
    buffer = io.BytesIO()
    first.save(buffer, format="MPO", save_all=True, append_images=[second])
    data = buffer.getvalue()
    assert Image.open(io.BytesIO(data)).format == "MPO" and Image.open(io.BytesIO(data)).n_frames == 2
    result = convert_image(data, "DSC_0001.JPG", LIMIT)
    assert isinstance(result, ConvertedImage) and result.warning is None
    pixel = tf.io.decode_png(result.encoded)[8, 12].numpy()
    assert pixel[0] > 200 and pixel[2] < 50


def test_a_progressive_jpeg_keeps_its_bytes():
    data = _encode(image_format="JPEG", progressive=True)
    assert convert_image(data, "p.jpg", LIMIT) == ConvertedImage(data, "jpeg", 10, 20)


def test_a_multi_page_tiff_keeps_its_first_page():
    pages = [Image.new("RGB", (8, 8), color) for color in ((255, 0, 0), (0, 0, 255))]
    buffer = io.BytesIO()
    pages[0].save(buffer, format="TIFF", save_all=True, append_images=pages[1:])
    pixel = tf.io.decode_png(convert_image(buffer.getvalue(), "scan.tiff", LIMIT).encoded)[0, 0].numpy()
    assert pixel[0] > 200 and pixel[2] < 50


def test_heic_is_refused_in_one_line_that_names_it():
    heic = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64)
    result = convert_image(heic, "IMG_0002.HEIC", LIMIT)
    assert result == Rejection("HEIC images are not supported: convert it to JPEG or PNG")
