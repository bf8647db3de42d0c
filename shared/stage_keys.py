"""What each stage of a run is made of, by content: one key per stage, and the champion decision they drive.

A stage's key is the key of the stage before it plus the settings that shape this stage's output, and
nothing else (Beam options, where the run writes, the Vertex machines do not change an output):

    data        the input folder's fingerprint (``image_folder.survey``)
    ingest      data + ``ingest`` (less its Beam options), ``validation``, ``eval_split``
    transform   ingest + ``transform``
    training    transform + ``training``
    evaluation  training + ``evaluation``, ``supervised_baseline``, ``finetune``
    blessing    evaluation + ``blessing``

Which stages run again is the caches' business (local MLMD, Vertex AI's cache): each stage takes exactly
these settings as its parameters, so a change re-runs the stage it shapes and every stage after it. The
keys decide one thing more: whether the registry's champion already is this run's model
(``decide``), in which case nothing is blessed or pushed. The champion records its keys (the local
registry's metadata, Vertex AI labels), and a champion is read afresh on every run.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Dict, Mapping, Optional

from pydantic import BaseModel, ConfigDict

# The settings sections that shape each stage's output, in the order the stages run.
STAGE_SECTIONS: Dict[str, tuple] = {
    "ingest": ("ingest", "validation", "eval_split"),
    "transform": ("transform",),
    "training": ("training",),
    "evaluation": ("evaluation", "supervised_baseline", "finetune"),
    "blessing": ("blessing",),
}
STAGES = ("data",) + tuple(STAGE_SECTIONS)
_NOT_SHAPING = {"ingest": ("beam_args",)}  # options of how a stage runs, not of what it makes
# Vertex AI label values hold at most 63 characters: keys are kept, and compared, as 128-bit prefixes.
KEY_DIGITS = 32


def digest(value: Any) -> str:
    """The SHA-256 of a JSON-ready value, written with sorted keys: the same value always has the same digest."""
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def stage_settings(config: Mapping[str, Any]) -> Dict[str, Any]:
    """The sections of a pipeline config (as a JSON-ready dict) that shape some stage's output."""
    settings = {}
    for stage, sections in STAGE_SECTIONS.items():
        for section in sections:
            value = config.get(section)
            if isinstance(value, dict):
                value = {k: v for k, v in value.items() if k not in _NOT_SHAPING.get(section, ())}
            settings[section] = value
    return settings


class StageKeys(BaseModel):
    """One key per stage (``STAGES``), each a hex SHA-256 chained from the data's fingerprint."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    data: str
    ingest: str
    transform: str
    training: str
    evaluation: str
    blessing: str


def settings_through(stage: str, settings: Mapping[str, Any]) -> Dict[str, Any]:
    """The sections of ``settings`` that shape ``stage`` and the stages before it, and no others."""
    names = [name for name in STAGE_SECTIONS if STAGES.index(name) <= STAGES.index(stage)]
    return {section: settings[section] for name in names for section in STAGE_SECTIONS[name]}


def key_through(stage: str, fingerprint: str, settings: Mapping[str, Any]) -> str:
    """The key of ``stage``: needs only the sections of that stage and the stages before it."""
    key = fingerprint
    for name, sections in STAGE_SECTIONS.items():
        if STAGES.index(name) > STAGES.index(stage):
            break
        key = digest([key, {section: settings[section] for section in sections}])
    return key


def stage_keys(fingerprint: str, settings: Mapping[str, Any]) -> StageKeys:
    """Every stage's key, from the data's fingerprint and ``stage_settings``."""
    return StageKeys(**{stage: key_through(stage, fingerprint, settings) for stage in STAGES})


class Decision(BaseModel):
    """Whether this run's model goes on to blessing and the push, and why."""

    model_config = ConfigDict(frozen=True)

    bless: bool
    reason: str
    champion_version: Optional[str] = None


_CHANGED = {
    "data": "the data changed",
    "ingest": "the ingest or validation settings changed",
    "transform": "the transform settings changed",
    "training": "the training settings changed",
    "evaluation": "the evaluation settings changed",
    "blessing": "the blessing settings changed",
}


def first_change(current: StageKeys, recorded: Mapping[str, Optional[str]]) -> Optional[str]:
    """The first stage whose key differs from ``recorded`` (compared on ``KEY_DIGITS``), or None."""
    for stage in STAGES:
        mine, theirs = getattr(current, stage), recorded.get(stage) or ""
        if not theirs or mine[:KEY_DIGITS] != theirs[:KEY_DIGITS]:
            return stage
    return None


def decide(
    current: StageKeys, champion_version: Optional[str], champion_keys: Optional[Mapping], skip_unchanged: bool
) -> Decision:
    """Blesses and pushes unless the champion was made from this very data and these very settings."""
    if not skip_unchanged:
        return Decision(bless=True, reason="change detection is off (skip_unchanged_data: false)")
    if champion_version is None:
        return Decision(bless=True, reason="the registry has no champion yet")
    changed = first_change(current, champion_keys or {})
    if changed is None:
        return Decision(
            bless=False,
            reason=f"the data and settings are those of champion version {champion_version}: nothing new to train on",
            champion_version=champion_version,
        )
    if not champion_keys:
        reason = f"champion version {champion_version} records no stage keys"
    else:
        reason = f"{_CHANGED[changed]} since champion version {champion_version}"
    return Decision(bless=True, reason=reason, champion_version=champion_version)
