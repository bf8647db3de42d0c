"""Reading and writing small artifact files at a path or URI (local, ``gs://``): JSON, text, PNG.

Every artifact file of the pipeline goes through here or through ``tf.io.gfile`` directly,
never ``open`` or ``os.path`` on an artifact path, so the same code runs on a laptop and on
a ``gs://`` pipeline root.

A reader never sees half a file: a GCS object appears only once its upload is complete,
and a local file is written beside its destination and renamed into place.
"""

import io
import json
import uuid
from typing import Any, Optional

import tensorflow as tf


def is_remote(uri: str) -> bool:
    """True for a URI with a scheme (``gs://...``), False for a local path."""
    return "://" in uri


def join(base: str, *parts: str) -> str:
    """``base/part/...`` with '/' separators, for local paths and URIs alike."""
    return "/".join([base.rstrip("/")] + [part.strip("/") for part in parts])


def parent(uri: str, levels: int = 1) -> str:
    """The folder ``levels`` up from ``uri`` (``gs://b/x/y/z``, 2 -> ``gs://b/x``); never mangles ``//``."""
    return uri.rstrip("/").rsplit("/", levels)[0]


def write_bytes(uri: str, data: bytes) -> None:
    """Writes ``data`` to ``uri`` whole, creating its folder; readers see the old file or the new one."""
    tf.io.gfile.makedirs(parent(uri))
    if is_remote(uri):
        with tf.io.gfile.GFile(uri, "wb") as handle:
            handle.write(data)
        return
    staging = f"{uri}.tmp-{uuid.uuid4().hex}"
    try:
        with tf.io.gfile.GFile(staging, "wb") as handle:
            handle.write(data)
        tf.io.gfile.rename(staging, uri, overwrite=True)
    finally:
        if tf.io.gfile.exists(staging):
            tf.io.gfile.remove(staging)


def exists(uri: str) -> bool:
    return tf.io.gfile.exists(uri)


def read_bytes(uri: str) -> bytes:
    with tf.io.gfile.GFile(uri, "rb") as handle:
        return handle.read()


def write_text(uri: str, text: str) -> None:
    write_bytes(uri, text.encode("utf-8"))


def read_text(uri: str) -> str:
    return read_bytes(uri).decode("utf-8")


def write_json(uri: str, value: Any, indent: Optional[int] = 2) -> None:
    write_text(uri, json.dumps(value, indent=indent))


def read_json(uri: str) -> Any:
    return json.loads(read_bytes(uri))


def copy_tree(source: str, destination: str) -> None:
    """Copies the folder ``source`` (a path or URI) to ``destination``, file by file."""
    source = source.rstrip("/")
    if not tf.io.gfile.isdir(source):
        raise FileNotFoundError(f"{source} is not a folder")
    for directory, _, files in tf.io.gfile.walk(source):
        target = join(destination, directory[len(source) :]) if directory != source else destination
        tf.io.gfile.makedirs(target)
        for name in files:
            tf.io.gfile.copy(join(directory, name), join(target, name), overwrite=True)


def remove_tree(uri: str) -> None:
    """Deletes the folder ``uri`` (a path or URI) and everything below it, if it exists."""
    if tf.io.gfile.exists(uri):
        tf.io.gfile.rmtree(uri)


def save_figure(figure, uri: str, dpi: int = 100) -> None:
    """A matplotlib figure as a PNG at ``uri`` (matplotlib itself only writes local files)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    write_bytes(uri, buffer.getvalue())
