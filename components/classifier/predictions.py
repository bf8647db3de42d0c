"""Predictions of an exported classifier over an image folder, with Beam RunInference.

``simclr-tfx predict`` runs ``predict_folder``: every file below the folder (local or gs://) is read
and converted as ingestion converts it (``image_decoding``: EXIF orientation applied, 16-bit scaled,
other formats re-encoded), batched through the classifier's ``serving_default`` signature and
written as one row per file, into Parquet shards (``parquet/predictions-*.parquet``: read them with
``pandas.read_parquet(f"{output}/parquet")``) and one CSV (``predictions.csv``), with the same columns:

  relative_path  string   the file's path inside the folder
  sha256         string   hex digest of the file's bytes ("" when it could not be read)
  label          string   the predicted class ("" when the file is not an image)
  probability    float64  the predicted class's probability (NaN when the file is not an image)
  reason         string   why the file got no prediction ("" when it got one)

Every file found appears once: predicted, or with its reason.
"""

import collections
import csv
import io
import math
import os
from typing import Any, Dict, Iterable, Optional, Sequence, Tuple, cast

import apache_beam as beam
import pyarrow as pa
import tensorflow as tf
from apache_beam.ml.inference.base import KeyedModelHandler, PredictionResult, RunInference

from components.evaluation.embedder import ReadImage, SavedModelHandler, read_folder
from shared import contract

COLUMNS = ("relative_path", "sha256", "label", "probability", "reason")
SCHEMA = pa.schema(
    [
        ("relative_path", pa.string()),
        ("sha256", pa.string()),
        ("label", pa.string()),
        ("probability", pa.float64()),
        ("reason", pa.string()),
    ]
)
PARQUET_DIR = "parquet"
FILE_PREFIX = "predictions"
CSV_FILE = "predictions.csv"


class ClassifierHandler(SavedModelHandler):
    """The classifier: encoded images [n] (bytes) -> (label, probability) of each."""

    def run_inference(
        self, batch: Sequence[bytes], model, inference_args: Optional[Dict[str, Any]] = None
    ) -> Iterable[PredictionResult]:
        outputs = model.signatures[contract.SERVING_SIGNATURE](**{contract.SERVING_INPUT: tf.constant(list(batch))})
        labels = [label.decode() for label in outputs[contract.LABEL].numpy()]
        probabilities = outputs[contract.PROBABILITY_OUTPUT].numpy().tolist()
        return [PredictionResult(image, pair) for image, pair in zip(batch, zip(labels, probabilities))]


def predicted_row(keyed: Tuple[Tuple[str, str, int], PredictionResult]) -> Dict[str, Any]:
    (relative_path, sha256, _), result = keyed
    label, probability = cast(Tuple[str, float], result.inference)
    return {"relative_path": relative_path, "sha256": sha256, "label": label, "probability": probability, "reason": ""}


def rejected_row(rejection: Dict[str, str]) -> Dict[str, Any]:
    return {
        "relative_path": rejection["path"],
        "sha256": "",
        "label": "",
        "probability": math.nan,
        "reason": rejection["reason"],
    }


def csv_line(row: Dict[str, Any]) -> str:
    line = io.StringIO()
    writer = csv.writer(line, lineterminator="")
    probability = row["probability"]
    writer.writerow(
        [*(row[c] for c in COLUMNS[:3]), "" if math.isnan(probability) else f"{probability:.6f}", row["reason"]]
    )
    return line.getvalue()


def predict_folder(
    root: str, saved_model_dir: str, output: str, beam_args: Sequence[str] = (), max_pixels: int = 50_000_000
) -> None:
    """Every file below ``root`` -> one row in ``<output>/parquet/predictions-*.parquet`` and in
    ``<output>/predictions.csv``."""
    options = beam.options.pipeline_options.PipelineOptions(list(beam_args))
    with beam.Pipeline(options=options) as pipeline:
        images = read_folder(pipeline, root, max_pixels)
        predicted = (
            images.images
            | "Predict" >> RunInference(KeyedModelHandler(ClassifierHandler(saved_model_dir)))
            | "PredictedRow" >> beam.Map(predicted_row)
        )
        rejected = images[ReadImage.REJECTED] | "RejectedRow" >> beam.Map(rejected_row)
        rows = (predicted, rejected) | "AllRows" >> beam.Flatten()
        _ = rows | "WriteParquet" >> beam.io.WriteToParquet(
            os.path.join(output, PARQUET_DIR, FILE_PREFIX), SCHEMA, file_name_suffix=".parquet"
        )
        _ = (
            rows
            | "CsvLine" >> beam.Map(csv_line)
            | "WriteCsv"
            >> beam.io.WriteToText(os.path.join(output, CSV_FILE), shard_name_template="", header=",".join(COLUMNS))
        )


def count_rows(output: str) -> Tuple[Dict[str, int], int]:
    """({label: files predicted as it}, files without a prediction) of ``<output>/predictions.csv``, read as
    a stream (memory: one line and one counter per class)."""
    labels: Dict[str, int] = collections.Counter()
    not_predicted = 0
    with tf.io.gfile.GFile(os.path.join(output, CSV_FILE)) as handle:
        for row in csv.DictReader(handle):
            if row["reason"]:
                not_predicted += 1
            else:
                labels[row["label"]] += 1
    return dict(labels), not_predicted
