"""The embedding step: the exported encoder over many images, with Beam RunInference.

One Beam job reads images (the ingested examples of every split, or an image folder), batches
them through the SavedModel's ``serving_default`` signature (encoded bytes in, embeddings out,
as a user of the registry would call it) and writes float16 Parquet shards
(components/evaluation/embeddings.py). It runs on the DirectRunner locally and on Dataflow on Vertex AI,
so no single process holds the embeddings: LinearEval and the kNN read the shards block by block.

``Embedder`` is the pipeline's TFX component; ``embed_folder`` serves ``simclr-tfx embed``.
"""

import json
import os
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import apache_beam as beam
import numpy as np
import tensorflow as tf
from apache_beam.ml.inference.base import KeyedModelHandler, ModelHandler, PredictionResult, RunInference

from components.evaluation import embeddings
from components.ingest import image_decoding, image_folder
from components.private_apis import (
    BeamComponentParameter,
    InputArtifact,
    OutputArtifact,
    artifact_utils,
    component,
    standard_artifacts,
)
from shared import contract

BATCH_SIZE = 64
REJECTED_FILE = "_rejected.jsonl"  # beside the shards, {"path", "reason"} lines; "_": readers of the folder skip it
Key = Tuple[str, str, int]  # (relative path, sha256, label id)


def serving_model_dir(model_uri: str) -> str:
    """The SavedModel inside a Trainer's Model artifact."""
    return os.path.join(model_uri, contract.SERVING_DIR)


class SavedModelHandler(ModelHandler[bytes, PredictionResult, Any]):
    """RunInference's handle on one of our SavedModels, called on batches of encoded images (bytes)."""

    def __init__(self, saved_model_dir: str, batch_size: int = BATCH_SIZE):
        super().__init__()
        self._saved_model_dir = saved_model_dir
        self._batch_size = batch_size

    def load_model(self):
        return tf.saved_model.load(self._saved_model_dir)

    def batch_elements_kwargs(self) -> Dict[str, int]:
        return {"max_batch_size": self._batch_size}


class EncoderHandler(SavedModelHandler):
    """The encoder: encoded images [n] (bytes) -> embeddings [n, d] float32."""

    def run_inference(
        self, batch: Sequence[bytes], model, inference_args: Optional[Dict[str, Any]] = None
    ) -> Iterable[PredictionResult]:
        features = model.signatures[contract.SERVING_SIGNATURE](**{contract.SERVING_INPUT: tf.constant(list(batch))})[
            contract.EMBEDDING_OUTPUT
        ].numpy()
        return [PredictionResult(image, feature) for image, feature in zip(batch, features)]


def _keyed_example(serialized: bytes) -> Tuple[Key, bytes]:
    features = tf.train.Example.FromString(serialized).features.feature
    return (
        (
            features[contract.RELATIVE_PATH].bytes_list.value[0].decode(),
            features[contract.SHA256].bytes_list.value[0].decode(),
            features[contract.LABEL_ID].int64_list.value[0],
        ),
        features[contract.IMAGE_BYTES].bytes_list.value[0],
    )


def _row(keyed: Tuple[Key, PredictionResult]) -> dict:
    (relative_path, sha256, label_id), result = keyed
    return embeddings.row(relative_path, sha256, label_id, np.asarray(result.inference))


def write_embeddings(
    images, saved_model_dir: str, output_folder: str, label: str, num_shards: int = 0, batch_size: int = BATCH_SIZE
):
    """images: a PCollection of ((relative path, sha256, label id), encoded bytes) -> shards in output_folder."""
    return (
        images
        | f"Embed[{label}]" >> RunInference(KeyedModelHandler(EncoderHandler(saved_model_dir, batch_size)))
        | f"Row[{label}]" >> beam.Map(_row)
        | f"Write[{label}]"
        >> beam.io.WriteToParquet(
            os.path.join(output_folder, embeddings.FILE_PREFIX),
            embeddings.SCHEMA,
            file_name_suffix=embeddings.FILE_SUFFIX,
            num_shards=num_shards,
        )
    )


def embed_examples(
    pipeline: beam.Pipeline, examples_uri: str, splits: List[str], saved_model_dir: str, output_uri: str
) -> None:
    """Each split of ingested examples (``Split-<name>/*.gz``) -> ``<output_uri>/Split-<name>/`` shards."""
    for split in splits:
        images = (
            pipeline
            | f"Read[{split}]" >> beam.io.ReadFromTFRecord(os.path.join(examples_uri, f"Split-{split}", "*"))
            | f"Keyed[{split}]" >> beam.Map(_keyed_example)
        )
        write_embeddings(images, saved_model_dir, os.path.join(output_uri, f"Split-{split}"), split)


class ReadImage(beam.DoFn):
    """A listed file -> ((relative path, sha256, -1), image bytes), or a {"path", "reason"} rejection."""

    REJECTED = "rejected"

    def __init__(self, root: str, max_pixels: int):
        self._root = root
        self._max_pixels = max_pixels

    def process(self, relative_path: str):
        data = image_decoding.read_bytes(image_folder.join(self._root, relative_path))
        converted = (
            data
            if isinstance(data, image_decoding.Rejection)
            else image_decoding.convert_image(data, relative_path, self._max_pixels)
        )
        if isinstance(converted, image_decoding.Rejection):
            yield beam.pvalue.TaggedOutput(self.REJECTED, {"path": relative_path, "reason": converted.reason})
        elif not isinstance(data, image_decoding.Rejection):  # always so: a rejected read has no conversion
            yield (relative_path, image_decoding.content_hash(data), -1), converted.encoded


def read_folder(pipeline: beam.Pipeline, root: str, max_pixels: int):
    """Every file below ``root``, listed in a worker and read as ingestion converts it: tagged outputs
    ``images`` (((relative path, sha256, -1), encoded bytes)) and ``ReadImage.REJECTED`` ({"path", "reason"})."""
    return (
        pipeline
        | "Root" >> beam.Create([root])
        | "ListFiles" >> beam.FlatMap(image_folder.iter_files)
        | "Spread" >> beam.Reshuffle()
        | "Read" >> beam.ParDo(ReadImage(root, max_pixels)).with_outputs(ReadImage.REJECTED, main="images")
    )


def embed_folder(
    root: str, saved_model_dir: str, output: str, beam_args: Sequence[str] = (), max_pixels: int = 50_000_000
) -> None:
    """Every image below ``root`` (a folder or gs:// prefix) -> shards in ``output``; files that are not
    images are listed with their reason in ``<output>/_rejected.jsonl`` (created even when empty)."""
    options = beam.options.pipeline_options.PipelineOptions(list(beam_args))
    with beam.Pipeline(options=options) as pipeline:
        images = read_folder(pipeline, root, max_pixels)
        write_embeddings(images.images, saved_model_dir, output, "images")
        _ = (
            images[ReadImage.REJECTED]
            | "RejectedJson" >> beam.Map(lambda r: json.dumps(r, sort_keys=True))
            | "WriteRejected" >> beam.io.WriteToText(os.path.join(output, REJECTED_FILE), shard_name_template="")
        )


@component(use_beam=True)
def Embedder(
    examples: InputArtifact[standard_artifacts.Examples],
    model: InputArtifact[standard_artifacts.Model],
    embeddings: OutputArtifact[standard_artifacts.Examples],
    beam_pipeline: BeamComponentParameter[beam.Pipeline] = None,
) -> None:
    """The encoder's embedding of every ingested image, per split, as float16 Parquet shards in ``embeddings``.

    Reads ImageExampleGen's ``examples`` and the Trainer's ``model`` (its Format-Serving SavedModel).
    """
    splits = artifact_utils.decode_split_names(examples.split_names)
    with beam_pipeline as pipeline:
        embed_examples(pipeline, examples.uri, splits, serving_model_dir(model.uri), embeddings.uri)
    embeddings.split_names = artifact_utils.encode_split_names(splits)
    embeddings.set_string_custom_property("payload_format", "FORMAT_PARQUET")
