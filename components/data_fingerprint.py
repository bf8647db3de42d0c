"""DataFingerprint: the first step of every run, which decides whether there is anything new to learn.

It fingerprints the input folder (file names, sizes and modification times, local
or gs://) and the training settings, and compares both with what the registry's
champion was trained on. When neither changed, a scheduled retrain would only
repeat the champion: the artifact says ``retrain = 0`` and why, and the pipeline
skips every later component (``tfx.dsl.Cond``), so nothing is trained or pushed.

ImageExampleGen takes the fingerprint as its input, so a changed folder always
means new examples. On Vertex AI this step is never cached (pipeline/vertex_runner.py)
because its only input is the state of the bucket; locally the runner fingerprints the
folder before the run and passes it as ``known_fingerprint``, which, being a parameter, also
keys the local cache.
"""

import hashlib
import json
import os
from typing import Dict, Optional

from absl import logging

from components import image_folder
from components.private_apis import Artifact, OutputArtifact, Parameter, component
from components.registry import FINGERPRINT_DIGITS, RegistryConfig, registry_from_config
from trainer import contract, uri_io

FOLDER_BYTES_PROPERTY = "folder_bytes"  # JSON: top-level folder ("" for root) -> bytes of the files below it


class DataSnapshot(Artifact):
    """What a run is about to train on: the data and training-settings fingerprints, and the retrain decision."""

    TYPE_NAME = "components.DataSnapshot"  # also its import path, as Vertex AI needs (components/__init__.py)


def training_digest(training: Dict) -> str:
    """A stable digest of the training settings (a TrainingConfig as a JSON-ready dict)."""
    return hashlib.sha256(json.dumps(training, sort_keys=True).encode()).hexdigest()


def _same(recorded: Optional[str], current: str) -> bool:
    """Compared on the prefix that every registry (Vertex labels included) keeps."""
    return bool(recorded and recorded[:FINGERPRINT_DIGITS] == current[:FINGERPRINT_DIGITS])


def retrain_decision(fingerprint: str, digest: str, champion: Optional[Dict], skip_unchanged: bool) -> Dict:
    """Whether to retrain, and why, given the champion's metadata (or None)."""
    version = (champion or {}).get("version")
    if not skip_unchanged:
        return {"retrain": True, "reason": "change detection is off (skip_unchanged_data: false)"}
    if champion is None:
        return {"retrain": True, "reason": "the registry has no champion yet"}
    if not _same(champion.get("data_fingerprint"), fingerprint):
        return {"retrain": True, "reason": f"the data changed since champion version {version} was trained"}
    if not _same(champion.get("training_digest"), digest):
        return {"retrain": True, "reason": f"the training settings changed since champion version {version}"}
    return {
        "retrain": False,
        "reason": f"the data and training settings are those of champion version {version}: nothing new to train on",
    }


@component
def DataFingerprint(
    snapshot: OutputArtifact[DataSnapshot],
    data: Parameter[str],
    training: Parameter[str],
    registry: Parameter[str],
    skip_unchanged: Parameter[int],
    known_fingerprint: Parameter[str] = "",
    known_folder_bytes: Parameter[str] = "",
) -> None:
    """Fingerprints the data and settings; sets ``retrain`` to 0 when the champion already has them.

    ``known_fingerprint`` and ``known_folder_bytes`` (JSON): the caller's ``image_folder.survey`` of
    the data, when it has one. The snapshot carries both; ImageExampleGen sizes its shards by the bytes.
    """
    if known_fingerprint:
        fingerprint, folder_bytes = known_fingerprint, json.loads(known_folder_bytes or "{}")
    else:
        found = image_folder.survey(data)
        fingerprint, folder_bytes = found.fingerprint, found.folder_bytes
    digest = training_digest(json.loads(training))
    champion = registry_from_config(RegistryConfig.model_validate_json(registry)).champion()
    decision = retrain_decision(fingerprint, digest, champion, bool(skip_unchanged))
    record = {
        "data": data,
        "data_fingerprint": fingerprint,
        "training_digest": digest,
        "champion_version": (champion or {}).get("version"),
        **decision,
    }
    uri_io.write_json(os.path.join(snapshot.uri, contract.SNAPSHOT_FILE), record)
    snapshot.set_string_custom_property("data_fingerprint", fingerprint)
    snapshot.set_string_custom_property(FOLDER_BYTES_PROPERTY, json.dumps(folder_bytes, sort_keys=True))
    snapshot.set_string_custom_property("training_digest", digest)
    snapshot.set_int_custom_property("retrain", int(decision["retrain"]))
    snapshot.set_string_custom_property("reason", decision["reason"])
    # On Vertex AI this line is what the run's log says when it ends here.
    logging.info(
        "DataFingerprint: %s: %s", "retraining" if decision["retrain"] else "ending the run", decision["reason"]
    )
