"""Checks one image file and turns it into a ``tf.train.Example``, or says why not.

Accepted: JPEG (baseline, progressive, CMYK), MPO (the first picture of a multi-picture JPEG, as
cameras and phones write), PNG (8- and 16-bit, palette, alpha), GIF (first frame), BMP, WebP, TIFF
(8- and 16-bit, first page) and AVIF, whatever the file's extension says: the content decides, and
an extension that names another format is a warning, not a rejection (ImageNet's training set has a
PNG named .JPEG). HEIC is refused in one line that names it (Pillow cannot decode it).

Every image becomes upright 8-bit RGB: EXIF orientation is applied, and 16-bit samples are scaled
to 8 bits (rounded, never clipped). An 8-bit RGB JPEG or PNG that needs none of this keeps its
original bytes; every other image is re-encoded as PNG. Images above the pixel limit are rejected
from their header, before any decoding (decompression bombs).

The same conversion prepares the bytes that ``simclr-tfx embed`` sends to the served model, whose
signature decodes bytes as they are (TensorFlow's decoders ignore EXIF): see ``export.py``.
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import io
import os
import warnings
from typing import Optional, Union

import numpy as np
import tensorflow as tf
from apache_beam.io.filesystems import FileSystems
from PIL import Image, UnidentifiedImageError

from shared import contract

# PIL format name -> file extensions that may hold it.
EXTENSIONS = {
    "JPEG": (".jpg", ".jpeg", ".jpe", ".jfif"),
    "PNG": (".png",),
    "GIF": (".gif",),
    "BMP": (".bmp", ".dib"),
    "WEBP": (".webp",),
    "MPO": (".jpg", ".jpeg", ".mpo"),
    "TIFF": (".tif", ".tiff"),
    "AVIF": (".avif",),
}
KEPT_AS_IS = ("JPEG", "PNG")
EXIF_ORIENTATION = 0x0112  # 1: upright; 2-8: mirrored and/or rotated (EXIF 2.3, tag 274)
# What turns a stored image of each orientation upright (as ImageOps.exif_transpose does).
UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")
# ISO base media file brands (bytes 8-12 of an 'ftyp' box at offset 4) of formats Pillow cannot decode here.
UNDECODABLE_BRANDS = {b"heic": "HEIC", b"heix": "HEIC", b"hevc": "HEIC", b"heim": "HEIC", b"mif1": "HEIF"}


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
    if image.mode in SIXTEEN_BIT_MODES:  # convert("RGB") would clip every value above 255
        image = Image.fromarray(_to_8_bits(np.asarray(image)), mode="L")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _to_8_bits(samples: np.ndarray) -> np.ndarray:
    """16-bit samples (0..65535) scaled to 8 bits, rounded: v / 257 (65535 / 255), at most half a level off."""
    return np.clip(np.rint(samples.astype(np.float64) / 257.0), 0, 255).astype(np.uint8)


def _orientation(image: Image.Image) -> int:
    try:
        return int(image.getexif().get(EXIF_ORIENTATION, 1) or 1)
    except (ValueError, TypeError, SyntaxError, OSError):  # a broken EXIF block: the pixels as stored
        return 1


def _bit_depth_16(data: bytes, image: Image.Image) -> bool:
    """A 16-bit image: a 16-bit mode, or a 16-bit PNG that Pillow already narrowed to RGB(A) by dropping low bytes."""
    if image.mode in SIXTEEN_BIT_MODES:
        return True
    return image.format == "PNG" and len(data) > 24 and data[24] == 16  # IHDR bit depth


def _undecodable(data: bytes) -> Optional[str]:
    """The name of a format Pillow cannot decode here, from its signature."""
    if data[4:8] == b"ftyp":
        return UNDECODABLE_BRANDS.get(data[8:12])
    return None


def _open(data: bytes) -> Union[Image.Image, Rejection]:
    refused = _undecodable(data)
    if refused:
        return Rejection(f"{refused} images are not supported: convert it to JPEG or PNG")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as error:
        return Rejection(f"too large to decode safely: {error}")
    except (UnidentifiedImageError, OSError, ValueError) as error:
        return Rejection(f"not an image ({type(error).__name__}: {str(error)[:120]})")


def convert_image(data: bytes, file_name: str, max_pixels: int) -> Union[ConvertedImage, Rejection]:
    """Validates and normalises one encoded image to upright 8-bit RGB; never raises for bad content."""
    if not data:
        return Rejection("empty file (0 bytes)")
    extension = os.path.splitext(file_name)[1].lower()
    image = _open(data)
    if isinstance(image, Rejection):
        return image
    image_format = image.format or "unknown"
    if image_format not in EXTENSIONS:
        return Rejection(f"unsupported image format {image_format} (accepted: {', '.join(EXTENSIONS)})")
    warning = None
    if extension not in EXTENSIONS[image_format] and not (image_format == "MPO" and extension in (".jpe", ".jfif")):
        warning = f"extension '{extension}' but {image_format} content: read as {image_format}"
    width, height = image.size
    if width * height > max_pixels:
        return Rejection(
            f"too large: {width}x{height} = {width * height / 1e6:.1f} MP exceeds the {max_pixels / 1e6:g} MP limit"
        )
    try:
        image.seek(0)  # the first frame, page or picture
        image.load()
    except (OSError, ValueError, SyntaxError) as error:
        return Rejection(f"corrupt or truncated image ({type(error).__name__}: {str(error)[:120]})")

    orientation = _orientation(image)
    unchanged = image_format in KEPT_AS_IS and image.mode == "RGB" and orientation == 1
    if unchanged and not _bit_depth_16(data, image):
        return ConvertedImage(data, image_format.lower(), height, width, warning)
    rgb = _to_rgb(image)
    if orientation in UPRIGHT:
        rgb = rgb.transpose(UPRIGHT[orientation])
    buffer = io.BytesIO()
    rgb.save(buffer, format="PNG")
    return ConvertedImage(buffer.getvalue(), "png", rgb.height, rgb.width, warning)


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


def _symlink_problem(path: str) -> Optional[Rejection]:
    """Why a local symlink cannot be read as an image: it loops, or leads back to a folder above it."""
    if "://" in path or not os.path.islink(path):
        return None
    target = os.readlink(path)
    try:
        os.stat(path)
    except OSError as error:
        if error.errno == errno.ELOOP:
            return Rejection(f"symlink loop (-> {target}): never followed")
        return None  # dangling: unreadable, below
    if os.path.isdir(path):
        return Rejection(f"symlink loop: leads back to the folder {target}, already read; never followed")
    return None


def read_bytes(path: str) -> Union[bytes, Rejection]:
    """The file's bytes (local or gs://), or a rejection saying why it cannot be read."""
    problem = _symlink_problem(path)
    if problem:
        return problem
    try:
        with FileSystems.open(path, compression_type="uncompressed") as handle:
            return handle.read()
    except Exception as error:  # every filesystem error is a rejection, never a crash
        return Rejection(f"unreadable ({type(error).__name__}: {str(error)[:120]})")


def ingest_file(path: str, relative_path: str, label: Optional[str], class_ids: dict, max_pixels: int):
    """(sha256 or None, Example or Rejection, warning or None) for one source file; ``label`` None: an
    unlabelled image (contract.UNLABELLED_LABEL, contract.UNLABELLED_ID)."""
    data = read_bytes(path)
    if isinstance(data, Rejection):
        return None, data, None
    sha256 = content_hash(data)
    converted = convert_image(data, relative_path, max_pixels)
    if isinstance(converted, Rejection):
        return sha256, converted, None
    if label is None:
        example = make_example(converted, contract.UNLABELLED_LABEL, contract.UNLABELLED_ID, relative_path, sha256)
    else:
        example = make_example(converted, label, class_ids[label], relative_path, sha256)
    return sha256, example, converted.warning
