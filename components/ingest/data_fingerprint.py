"""DataFingerprint: the first step of every run, never cached, which looks at the data and the champion.

It fingerprints the input folder (file names, sizes and modification times, local or gs://),
computes every stage's key (``stage_keys``: the data plus the settings that shape each stage)
and reads the registry's champion afresh. Two outputs:

* ``survey``, a value (a pipeline parameter on Vertex AI): the fingerprint and each top-level
  folder's bytes. ImageExampleGen takes it as a parameter, so its cache key, and through it
  the key of every step after it, holds the data's content and not this step's new artifact:
  an unchanged folder is served from the cache, locally and on Vertex AI;
* ``snapshot``, an artifact: the keys and the decision (``stage_keys.decide``). Blesser and
  RegistryPusher run under ``tfx.dsl.Cond`` on its ``bless`` property, so a run whose champion
  already is this run's model blesses and pushes nothing, and a registry that was emptied,
  rolled back or promoted is followed at once.

It is never served from the cache (``pipeline/local_runner.py``, ``pipeline/vertex_runner.py``):
its result depends on the bucket and the registry, which no input of it names.
"""

import json
import os
from typing import Optional

from absl import logging

from components.ingest import image_folder
from components.private_apis import Artifact, OutputArtifact, OutputDict, Parameter, component
from components.registry.config import RegistryConfig, registry_from_config
from shared import contract, stage_keys
from shared.records import Snapshot

SURVEY_KEY = "survey"  # the value output ImageExampleGen takes as its ``survey`` parameter
BLESS_PROPERTY = "bless"  # on the snapshot: 1 when Blesser and RegistryPusher run


class DataSnapshot(Artifact):
    """What a run is about to train on: the data's fingerprint, every stage's key, and the champion decision."""

    TYPE_NAME = "components.DataSnapshot"  # also its import path, as Vertex AI needs (components/__init__.py)


def survey_value(fingerprint: str, folder_bytes: dict) -> str:
    """The ``survey`` value: JSON of the fingerprint and each top-level folder's bytes."""
    return json.dumps({"fingerprint": fingerprint, "folder_bytes": folder_bytes}, sort_keys=True)


@component
def DataFingerprint(
    snapshot: OutputArtifact[DataSnapshot],
    data: Parameter[str],
    settings: Parameter[str],
    registry: Parameter[str],
    skip_unchanged: Parameter[int],
    known_survey: Parameter[str] = "",
) -> OutputDict(survey=str):  # type: ignore[valid-type]
    """Fingerprints the data, keys every stage, and sets ``bless`` to 0 when the champion already is this model.

    ``settings``: ``stage_keys.stage_settings`` of the config, as JSON. ``known_survey``: the caller's
    ``survey_value`` of the data when it has one (a local run lists the folder before it starts).
    """
    survey = known_survey or _survey(data)
    keys = stage_keys.stage_keys(json.loads(survey)["fingerprint"], json.loads(settings))
    champion = registry_from_config(RegistryConfig.model_validate_json(registry)).champion()
    version: Optional[str] = champion.version if champion else None
    decision = stage_keys.decide(keys, version, champion.stage_keys if champion else None, bool(skip_unchanged))
    record = Snapshot(data=data, data_fingerprint=keys.data, stage_keys=keys, **decision.model_dump())
    record.write(os.path.join(snapshot.uri, contract.SNAPSHOT_FILE))
    snapshot.set_string_custom_property("data_fingerprint", keys.data)
    snapshot.set_int_custom_property(BLESS_PROPERTY, int(decision.bless))
    snapshot.set_string_custom_property("reason", decision.reason)
    # On Vertex AI this line is what the run's log says about the champion.
    logging.info("DataFingerprint: %s: %s", "blessing" if decision.bless else "nothing to push", decision.reason)
    return {SURVEY_KEY: survey}


def _survey(data: str) -> str:
    found = image_folder.survey(data)
    return survey_value(found.fingerprint, found.folder_bytes)
