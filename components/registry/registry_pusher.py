"""Blesser and RegistryPusher: only a good-enough encoder reaches the model registry.

Blesser blesses a model if and only if its top-1 with few labels (the blessing
probe of LinearEval) is at least a threshold and no worse than the registry's
champion minus a tolerance. It records the decision and both figures in
blessing.json, the TFX BLESSED / NOT_BLESSED marker file and the artifact's
`blessed` property, as the standard Evaluator does.

RegistryPusher pushes a blessed model as a new registry version with its
metadata (metrics, config, data fingerprint, every stage's key, pipeline run id,
git revision, time) and makes it the champion; an unblessed one is not pushed, and the
PushedModel artifact says why. Either way the model is decided, so it deletes
the Trainer's resumable checkpoints (components/training/resumable_trainer.py).
"""

import json
import os
import subprocess
from typing import Dict, Optional

import tensorflow as tf
from absl import logging

from components.evaluation.embedder import serving_model_dir
from components.private_apis import (
    BaseChannel,
    BaseComponent,
    BaseExecutor,
    Channel,
    ChannelParameter,
    ComponentSpec,
    ExecutionParameter,
    ExecutorClassSpec,
    InputArtifact,
    OutputArtifact,
    Parameter,
    artifact_utils,
    component,
    pipeline_run,
    standard_artifacts,
)
from components.registry.registries import RegistryConfig, registry_from_config
from shared import contract, stage_keys, uri_io
from trainer.task import FINISHED_FILE, RESUME_FILE


def git_revision() -> str:
    """The project's revision: baked into the container image, else read from a git checkout."""
    if os.environ.get("SIMCLR_GIT_REVISION"):
        return os.environ["SIMCLR_GIT_REVISION"]
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=os.path.dirname(os.path.abspath(__file__)),
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _registry(registry_json: str):
    return registry_from_config(RegistryConfig.model_validate_json(registry_json))


def decide(top1: float, min_top1: float, tolerance: float, champion: Optional[Dict]) -> Dict:
    """The blessing decision, its reasons and the figures it compared."""
    held = champion or {}
    champion_top1 = held.get("blessing", {}).get("top1")
    reasons = []
    if top1 < min_top1:
        reasons.append(f"top-1 {top1:.3f} is below the threshold {min_top1:.3f}")
    if champion_top1 is not None and top1 < champion_top1 - tolerance:
        reasons.append(
            f"top-1 {top1:.3f} is worse than champion version {held['version']}'s "
            f"{champion_top1:.3f} by more than {tolerance:.3f}"
        )
    return {
        "blessed": not reasons,
        "top1": top1,
        "min_top1": min_top1,
        "champion_tolerance": tolerance,
        "champion_version": held.get("version"),
        "champion_top1": champion_top1,
        "reasons": reasons
        or [
            f"top-1 {top1:.3f} meets the threshold {min_top1:.3f}"
            + (
                f" and champion version {held['version']}'s {champion_top1:.3f} - {tolerance:.3f}"
                if champion_top1 is not None
                else " (no champion yet)"
            )
        ],
    }


@component
def Blesser(
    evaluation: InputArtifact[standard_artifacts.ModelEvaluation],
    blessing: OutputArtifact[standard_artifacts.ModelBlessing],
    min_top1: Parameter[float],
    champion_tolerance: Parameter[float],
    registry: Parameter[str],
) -> None:
    """Blesses the model iff top-1 >= min_top1 and >= champion - tolerance; records why."""
    metrics = uri_io.read_json(os.path.join(evaluation.uri, contract.EVALUATION_METRICS_FILE))
    measured = metrics["blessing_metric"]
    decision = decide(measured["top1_mean"], min_top1, champion_tolerance, _registry(registry).champion())
    decision["label_fraction"] = measured["label_fraction"]
    uri_io.write_json(os.path.join(blessing.uri, contract.BLESSING_FILE), decision)
    marker = "BLESSED" if decision["blessed"] else "NOT_BLESSED"
    uri_io.write_text(os.path.join(blessing.uri, marker), "")  # an empty marker file, as the TFX Evaluator writes
    blessing.set_int_custom_property("blessed", int(decision["blessed"]))
    blessing.set_string_custom_property("reason", "; ".join(decision["reasons"]))


class RegistryPusherSpec(ComponentSpec):
    PARAMETERS = {
        "registry": ExecutionParameter(type=str),  # RegistryConfig as JSON
        "pipeline_config": ExecutionParameter(type=str),  # recorded in each version's metadata
    }
    INPUTS = {
        "model": ChannelParameter(type=standard_artifacts.Model),
        # Names the Trainer's resumable checkpoints (trainer.task.RESUME_FILE), deleted once decided.
        "model_run": ChannelParameter(type=standard_artifacts.ModelRun, optional=True),
        "model_blessing": ChannelParameter(type=standard_artifacts.ModelBlessing),
        "evaluation": ChannelParameter(type=standard_artifacts.ModelEvaluation),
        "examples": ChannelParameter(type=standard_artifacts.Examples),
    }
    OUTPUTS = {"pushed_model": ChannelParameter(type=standard_artifacts.PushedModel)}


class RegistryPusherExecutor(BaseExecutor):
    def Do(self, input_dict, output_dict, exec_properties):
        model = artifact_utils.get_single_instance(input_dict["model"])
        blessing = artifact_utils.get_single_instance(input_dict["model_blessing"])
        evaluation = artifact_utils.get_single_instance(input_dict["evaluation"])
        examples = artifact_utils.get_single_instance(input_dict["examples"])
        pushed = artifact_utils.get_single_instance(output_dict["pushed_model"])
        decision = uri_io.read_json(os.path.join(blessing.uri, contract.BLESSING_FILE))
        registry = _registry(exec_properties["registry"])
        record = {"pushed": False, "version": None, "registry": registry.describe(), "reasons": decision["reasons"]}
        if decision["blessed"]:
            pipeline_name, pipeline_run_id = pipeline_run(self)
            metrics = uri_io.read_json(os.path.join(evaluation.uri, contract.EVALUATION_METRICS_FILE))
            config = json.loads(exec_properties["pipeline_config"])
            fingerprint = examples.get_string_custom_property(contract.INPUT_FINGERPRINT)
            metadata = {
                "metrics": {key: metrics[key] for key in ("linear", "knn_top1", "blessing_metric")},
                "blessing": decision,
                "config": config,
                "data_fingerprint": fingerprint or None,
                # What DataFingerprint compares on the next run (shared/stage_keys.py).
                "stage_keys": stage_keys.stage_keys(fingerprint, stage_keys.stage_settings(config)).model_dump(),
                # TFX gives a Vertex AI task no pipeline context: the config names the pipeline there.
                "pipeline_name": pipeline_name or config.get("pipeline_name"),
                "pipeline_run_id": pipeline_run_id,
                "git_revision": git_revision(),
                "evaluation_report": os.path.join(evaluation.uri, contract.EVALUATION_REPORT_FILE),
                "source_model": model.uri,
            }
            version = registry.push(serving_model_dir(model.uri), metadata, make_champion=True)
            record.update(pushed=True, version=version)
            pushed.set_string_custom_property("pushed_version", version)
            pushed.set_string_custom_property("pushed_destination", registry.describe())
        pushed.set_int_custom_property("pushed", int(record["pushed"]))
        uri_io.write_json(os.path.join(pushed.uri, contract.PUSH_FILE), record)
        if input_dict.get("model_run"):
            _delete_resume_checkpoints(artifact_utils.get_single_instance(input_dict["model_run"]).uri)


def _delete_resume_checkpoints(model_run_uri: str) -> None:
    """The model is pushed or refused: its resumable checkpoints go. A pointer to the run's final checkpoint
    (kept with its other artifacts) stays, so that a run with the same key restores it instead of training."""
    resume_file = uri_io.join(model_run_uri, RESUME_FILE)
    if not uri_io.exists(resume_file):
        return
    checkpoint_dir = uri_io.read_json(resume_file)["checkpoint_dir"]
    if tf.io.gfile.exists(checkpoint_dir):
        tf.io.gfile.rmtree(checkpoint_dir)
        logging.info("RegistryPusher: deleted the Trainer's resumable checkpoints %s", checkpoint_dir)
    uri_io.write_json(uri_io.join(checkpoint_dir, FINISHED_FILE), {"model_run": model_run_uri})


class RegistryPusher(BaseComponent):
    """Pushes a blessed model to the configured registry; does nothing, and says why, otherwise."""

    SPEC_CLASS = RegistryPusherSpec
    EXECUTOR_SPEC = ExecutorClassSpec(RegistryPusherExecutor)

    def __init__(
        self,
        model: BaseChannel,
        model_blessing: BaseChannel,
        evaluation: BaseChannel,
        examples: BaseChannel,
        registry: str,
        pipeline_config: str,
        model_run: Optional[BaseChannel] = None,
    ):
        super().__init__(
            spec=RegistryPusherSpec(
                model=model,
                model_run=model_run,
                model_blessing=model_blessing,
                evaluation=evaluation,
                examples=examples,
                registry=registry,
                pipeline_config=pipeline_config,
                pushed_model=Channel(type=standard_artifacts.PushedModel),
            )
        )
