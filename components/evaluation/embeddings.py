"""Embedding shards: what the embedding step writes and how evaluation and users read them back.

A split's embeddings are Parquet files (``Split-<split>/embeddings-*.parquet``), one row per image:

  relative_path  string  the image's path inside the dataset folder
  sha256         string  hex digest of the image file (the probes' key for label subsets)
  label_id       int64   class index at ingestion, -1 when unknown
  embedding      binary  the encoder's features as little-endian float16, d values

Read them with ``read_blocks`` (bounded memory, in file order), or with pandas and numpy:

  frame = pandas.read_parquet(folder)
  features = numpy.frombuffer(b"".join(frame.embedding), "<f2").reshape(len(frame), -1)
"""

import dataclasses
import os
from typing import Dict, Iterator, List, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import tensorflow as tf
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

PATH_COLUMN = "relative_path"
HASH_COLUMN = "sha256"
LABEL_COLUMN = "label_id"
EMBEDDING_COLUMN = "embedding"
EMBEDDING_DTYPE = np.dtype("<f2")
SCHEMA = pa.schema(
    [
        (PATH_COLUMN, pa.string()),
        (HASH_COLUMN, pa.string()),
        (LABEL_COLUMN, pa.int64()),
        (EMBEDDING_COLUMN, pa.binary()),
    ]
)
FILE_PREFIX = "embeddings"
FILE_SUFFIX = ".parquet"
BLOCK_ROWS = 8192


def row(relative_path: str, sha256: str, label_id: int, embedding: np.ndarray) -> dict:
    """One Parquet row (a dict keyed by SCHEMA's names) from an embedding [d]."""
    return {
        PATH_COLUMN: relative_path,
        HASH_COLUMN: sha256,
        LABEL_COLUMN: int(label_id),
        EMBEDDING_COLUMN: np.asarray(embedding, EMBEDDING_DTYPE).tobytes(),
    }


def split_files(folder: str) -> List[str]:
    """The shards of one split's folder (or of an `embed` output), in their reading order."""
    files = sorted(tf.io.gfile.glob(os.path.join(folder, f"{FILE_PREFIX}*{FILE_SUFFIX}")))
    if not files:
        raise FileNotFoundError(f"no embedding shards ({FILE_PREFIX}*{FILE_SUFFIX}) in {folder}")
    return files


def _open(path: str):
    """A seekable binary file (local or gs://) for pyarrow, which needs a full io object (GFile is not)."""
    return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


@dataclasses.dataclass(frozen=True)
class Block:
    """Consecutive rows of a split: features [n, d] float16, label ids [n], content hashes [n] (bytes)."""

    features: np.ndarray
    labels: np.ndarray
    hashes: np.ndarray


def _features(column: pa.Array) -> np.ndarray:
    values = column.to_pylist()
    return np.frombuffer(b"".join(values), EMBEDDING_DTYPE).reshape(len(values), -1)


def read_blocks(folder: str, rows: int = BLOCK_ROWS) -> Iterator[Block]:
    """Every row of a split in file order, ``rows`` at a time: memory holds one block, whatever the split's size."""
    for path in split_files(folder):
        with _open(path) as handle:
            for batch in pq.ParquetFile(handle).iter_batches(batch_size=rows):
                columns = dict(zip(batch.schema.names, batch.columns))
                yield Block(
                    _features(columns[EMBEDDING_COLUMN]),
                    columns[LABEL_COLUMN].to_numpy(zero_copy_only=False),
                    np.array([h.encode() for h in columns[HASH_COLUMN].to_pylist()]),
                )


def read_columns(folder: str, names: Sequence[str]) -> dict:
    """Whole columns other than the embedding (labels, hashes, paths), as numpy arrays in reading order."""
    if EMBEDDING_COLUMN in names:
        raise ValueError("read the embedding column with read_blocks: it does not fit in memory at scale")
    parts: Dict[str, List[np.ndarray]] = {name: [] for name in names}
    for path in split_files(folder):
        with _open(path) as handle:
            table = pq.ParquetFile(handle).read(columns=list(names))
        for name in names:
            parts[name].append(table.column(name).to_numpy())
    return {name: np.concatenate(arrays) for name, arrays in parts.items()}


def count_rows(folder: str) -> int:
    """The number of rows of a split's shards, from their Parquet footers."""
    total = 0
    for path in split_files(folder):
        with _open(path) as handle:
            total += pq.ParquetFile(handle).metadata.num_rows
    return total


def read_all(folder: str) -> Block:
    """The whole split in memory: for small splits (the evaluation split, tests), never the train split at scale."""
    blocks = list(read_blocks(folder))
    return Block(
        np.concatenate([b.features for b in blocks]),
        np.concatenate([b.labels for b in blocks]),
        np.concatenate([b.hashes for b in blocks]),
    )
