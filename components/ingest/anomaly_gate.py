"""AnomalyGate: stops the pipeline when data validation found anomalies or a split is missing.

ExampleValidator only records anomalies. This gate sits after it, so that a
retrain with an unexpected class or a missing split fails the run with the
anomaly named, instead of training on bad data.
"""

import json
import os
from typing import List

import tensorflow as tf
from tensorflow_metadata.proto.v0 import anomalies_pb2

from components.errors import DataError
from components.private_apis import InputArtifact, Parameter, artifact_utils, component, standard_artifacts

_SCHEMA_DIFF_FILE = "SchemaDiff.pb"


def describe_anomalies(anomalies_uri: str, split_names: List[str]) -> List[str]:
    """One readable line per anomaly found by ExampleValidator, split by split."""
    found = []
    for split in split_names:
        path = os.path.join(anomalies_uri, f"Split-{split}", _SCHEMA_DIFF_FILE)
        if not tf.io.gfile.exists(path):
            continue
        with tf.io.gfile.GFile(path, "rb") as handle:
            anomalies = anomalies_pb2.Anomalies.FromString(handle.read())
        for feature, info in sorted(anomalies.anomaly_info.items()):
            found.append(f"split '{split}', feature '{feature}': {info.description or info.short_description}")
        if anomalies.HasField("dataset_anomaly_info"):
            info = anomalies.dataset_anomaly_info
            found.append(f"split '{split}': {info.description or info.short_description}")
    return found


def check_examples(anomalies_uri: str, split_names: List[str], required_splits: List[str]) -> None:
    missing = [split for split in required_splits if split not in split_names]
    problems = [
        f"required split '{split}' is missing (found {split_names}): add a {split}/ folder, "
        "or use no split folders to split by content hash"
        for split in missing
    ]
    problems += describe_anomalies(anomalies_uri, split_names)
    if problems:
        more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
        raise DataError(
            f"data validation failed: {problems[0]}{more}; see {anomalies_uri}, "
            "then fix the data or update the curated schema (validation.schema_path)"
        )


@component
def AnomalyGate(
    examples: InputArtifact[standard_artifacts.Examples],
    anomalies: InputArtifact[standard_artifacts.ExampleAnomalies],
    required_splits: Parameter[str],
) -> None:
    """Fails the run on any anomaly or missing split; passes silently otherwise."""
    check_examples(
        anomalies.uri,
        artifact_utils.decode_split_names(examples.split_names),
        json.loads(required_splits),
    )
