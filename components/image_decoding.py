"""Checks one image file and turns it into a ``tf.train.Example``, or says why not.

Accepted: JPEG, PNG, GIF (first frame), BMP and WebP, whatever the file's
extension says: the content decides, and an extension that names another format
is a warning, not a rejection (ImageNet's training set has a PNG named .JPEG).
JPEG and PNG files that are already RGB keep their original bytes; everything else
is converted to RGB and stored as PNG. Images above the pixel limit are rejected from their header,
before any decoding (decompression bombs).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import warnings
from typing import Optional, Union

import tensorflow as tf
from apache_beam.io.filesystems import FileSystems
from PIL import Image, UnidentifiedImageError

from trainer import contract

# PIL format name -> file extensions that may hold it.
EXTENSIONS = {
    "JPEG": (".jpg", ".jpeg", ".jpe", ".jfif"),
    "PNG": (".png",),
    "GIF": (".gif",),
    "BMP": (".bmp", ".dib"),
    "WEBP": (".webp",),
}
KEPT_AS_IS = ("JPEG", "PNG")


@dataclasses.dataclass(frozen=True)
class Rejection:
    reason: str


@dataclasses.dataclass(frozen=True)
class ConvertedImage:
    encoded: bytes
    image_format: str  # "jpeg" or "png"
    height: int
    width: int
    warning: Optional[str] = None  # written, but worth a look (an extension that names another format)


def content_hash(data: bytes) -> str:
    """The image's identity (contract.SHA256): hex SHA-256 of its bytes as read."""
    return hashlib.sha256(data).hexdigest()


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def convert_image(data: bytes, file_name: str, max_pixels: int) -> Union[ConvertedImage, Rejection]:
    """Validates and normalises one encoded image; never raises for bad content."""
    if not data:
        return Rejection("empty file (0 bytes)")
    extension = os.path.splitext(file_name)[1].lower()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as error:
        return Rejection(f"too large to decode safely: {error}")
    except (UnidentifiedImageError, OSError, ValueError) as error:
        return Rejection(f"not an image ({type(error).__name__}: {str(error)[:120]})")

    image_format = image.format or "unknown"
    if image_format not in EXTENSIONS:
        return Rejection(f"unsupported image format {image_format} (accepted: {', '.join(EXTENSIONS)})")
    warning = None
    if extension not in EXTENSIONS[image_format]:
        warning = f"extension '{extension}' but {image_format} content: read as {image_format}"
    width, height = image.size
    if width * height > max_pixels:
        return Rejection(
            f"too large: {width}x{height} = {width * height / 1e6:.1f} MP exceeds the {max_pixels / 1e6:g} MP limit"
        )
    try:
        image.seek(0)
        image.load()
    except (OSError, ValueError, SyntaxError) as error:
        return Rejection(f"corrupt or truncated image ({type(error).__name__}: {str(error)[:120]})")

    if image_format in KEPT_AS_IS and image.mode == "RGB":
        return ConvertedImage(data, image_format.lower(), height, width, warning)
    buffer = io.BytesIO()
    _to_rgb(image).save(buffer, format="PNG")
    return ConvertedImage(buffer.getvalue(), "png", height, width, warning)


def _bytes_feature(value: bytes) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def _int_feature(value: int) -> tf.train.Feature:
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))


def make_example(image: ConvertedImage, label: str, label_id: int, relative_path: str, sha256: str) -> tf.train.Example:
    """One ingested image as a tf.train.Example with the features contract.py names (one value each)."""
    return tf.train.Example(
        features=tf.train.Features(
            feature={
                contract.IMAGE_BYTES: _bytes_feature(image.encoded),
                contract.IMAGE_FORMAT: _bytes_feature(image.image_format.encode()),
                contract.LABEL: _bytes_feature(label.encode()),
                contract.LABEL_ID: _int_feature(label_id),
                contract.RELATIVE_PATH: _bytes_feature(relative_path.encode()),
                contract.HEIGHT: _int_feature(image.height),
                contract.WIDTH: _int_feature(image.width),
                contract.SHA256: _bytes_feature(sha256.encode()),
            }
        )
    )


def read_bytes(path: str) -> Union[bytes, Rejection]:
    """The file's bytes (local or gs://), or a rejection saying why it cannot be read."""
    try:
        with FileSystems.open(path, compression_type="uncompressed") as handle:
            return handle.read()
    except Exception as error:  # every filesystem error is a rejection, never a crash
        return Rejection(f"unreadable ({type(error).__name__}: {str(error)[:120]})")


def ingest_file(path: str, relative_path: str, label: str, class_ids: dict, max_pixels: int):
    """(sha256 or None, Example or Rejection, warning or None) for one source file."""
    data = read_bytes(path)
    if isinstance(data, Rejection):
        return None, data, None
    sha256 = content_hash(data)
    converted = convert_image(data, relative_path, max_pixels)
    if isinstance(converted, Rejection):
        return sha256, converted, None
    return sha256, make_example(converted, label, class_ids[label], relative_path, sha256), converted.warning
