"""RegistryPusher: a blessed encoder (or classifier) becomes a new registry version and the champion.

It pushes a blessed model with its metadata (``shared.records.VersionMetadata``: metrics, config,
data fingerprint, every stage's key, pipeline run id, git revision, time); an unblessed one is
not pushed, and the PushedModel artifact says why (``shared.records.PushRecord``). Either way the
model is decided, so the Trainer's resumable checkpoints go (``trainer/resumable.py``).
"""

import json
import os
import subprocess
from typing import Optional

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
    artifact_utils,
    pipeline_run,
    standard_artifacts,
)
from components.registry.config import RegistryConfig, registry_from_config
from shared import contract, stage_keys
from shared.records import BLESSABLE, Blessing, PushRecord, VersionMetadata
from trainer import resumable


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


class RegistryPusherSpec(ComponentSpec):
    PARAMETERS = {
        "registry": ExecutionParameter(type=str),  # RegistryConfig as JSON
        "pipeline_config": ExecutionParameter(type=str),  # recorded in each version's metadata
        "model_kind": ExecutionParameter(type=str),  # "encoder" or "classifier": its metrics record (BLESSABLE)
    }
    INPUTS = {
        "model": ChannelParameter(type=standard_artifacts.Model),
        # Names the Trainer's resumable checkpoints (trainer/resumable.py), deleted once decided.
        "model_run": ChannelParameter(type=standard_artifacts.ModelRun, optional=True),
        "model_blessing": ChannelParameter(type=standard_artifacts.ModelBlessing),
        "evaluation": ChannelParameter(type=standard_artifacts.ModelEvaluation),
        "examples": ChannelParameter(type=standard_artifacts.Examples),
        # A classifier's: the encoder's push, whose version the classifier's metadata names.
        "encoder_push": ChannelParameter(type=standard_artifacts.PushedModel, optional=True),
    }
    OUTPUTS = {"pushed_model": ChannelParameter(type=standard_artifacts.PushedModel)}


class RegistryPusherExecutor(BaseExecutor):
    def Do(self, input_dict, output_dict, exec_properties):
        model = artifact_utils.get_single_instance(input_dict["model"])
        blessing = artifact_utils.get_single_instance(input_dict["model_blessing"])
        pushed = artifact_utils.get_single_instance(output_dict["pushed_model"])
        decision = Blessing.read(os.path.join(blessing.uri, contract.BLESSING_FILE))
        registry = registry_from_config(RegistryConfig.model_validate_json(exec_properties["registry"]))
        record = PushRecord(pushed=False, registry=registry.describe(), reasons=decision.reasons)
        if decision.blessed:
            metadata = self._metadata(input_dict, exec_properties, decision)
            version = registry.push(serving_model_dir(model.uri), metadata, make_champion=True)
            record = record.model_copy(update={"pushed": True, "version": version})
            pushed.set_string_custom_property("pushed_version", version)
            pushed.set_string_custom_property("pushed_destination", registry.describe())
        pushed.set_int_custom_property("pushed", int(record.pushed))
        record.write(os.path.join(pushed.uri, contract.PUSH_FILE))
        if input_dict.get("model_run"):
            deleted = resumable.delete_checkpoints(artifact_utils.get_single_instance(input_dict["model_run"]).uri)
            if deleted:
                logging.info("RegistryPusher: deleted the Trainer's resumable checkpoints %s", deleted)

    def _metadata(self, input_dict, exec_properties, decision: Blessing) -> VersionMetadata:
        evaluation = artifact_utils.get_single_instance(input_dict["evaluation"])
        examples = artifact_utils.get_single_instance(input_dict["examples"])
        pipeline_name, pipeline_run_id = pipeline_run(self)
        blessable = BLESSABLE[exec_properties.get("model_kind") or "encoder"]
        metrics = blessable.record.read(os.path.join(evaluation.uri, blessable.file))
        config = json.loads(exec_properties["pipeline_config"])
        fingerprint = examples.get_string_custom_property(contract.INPUT_FINGERPRINT)
        encoder_push = input_dict.get("encoder_push")
        return VersionMetadata(
            metrics=metrics.model_dump(mode="json", include=blessable.headline),
            encoder_version=(
                artifact_utils.get_single_instance(encoder_push).get_string_custom_property("pushed_version") or None
                if encoder_push
                else None
            ),
            blessing=decision,
            config=config,
            data_fingerprint=fingerprint or None,
            # What DataFingerprint compares on the next run (shared/stage_keys.py).
            stage_keys=stage_keys.stage_keys(fingerprint, stage_keys.stage_settings(config)).model_dump(),
            # TFX gives a Vertex AI task no pipeline context: the config names the pipeline there.
            pipeline_name=pipeline_name or config.get("pipeline_name"),
            pipeline_run_id=pipeline_run_id,
            git_revision=git_revision(),
            evaluation_report=os.path.join(evaluation.uri, contract.EVALUATION_REPORT_FILE),
            source_model=artifact_utils.get_single_instance(input_dict["model"]).uri,
        )


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
        model_kind: str = "encoder",
        encoder_push: Optional[BaseChannel] = None,
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
                model_kind=model_kind,
                encoder_push=encoder_push,
                pushed_model=Channel(type=standard_artifacts.PushedModel),
            )
        )
