"""Trainer: the TFX Trainer, which also takes the ingested examples so that its checkpoints outlive a run.

A pretraining run that fails (a preempted TPU, a quota error, a bug fixed in the next
image) should resume when the pipeline is submitted again. Each run gives its
artifacts new URIs, so the Trainer cannot key its checkpoints by its inputs' URIs.
This component is TFX's Trainer with one more input, ``ingested`` (ImageExampleGen's
examples); its executor adds to ``custom_config`` what the run trains on by content:

* ``input_digest``: the transform stage's key (``stage_keys``), from the data's
  fingerprint (which ImageExampleGen records on its examples, so it holds on Vertex AI
  too, where the bucket is fingerprinted inside the run) and the settings that turn
  the data into examples (``input_settings``);
* ``checkpoint_root``: a stable folder under the pipeline root, not under the run;
* ``train_images``: how many training examples there are, from ImageExampleGen's report
  (its ``ingested`` input), so the training job never reads the train split just to count it.

When the data has unlabelled images (the ``unlabelled`` split), the executor adds that split to
``train_args``: pretraining reads ``train`` and ``unlabelled`` together, and counts both. Only the
executor can: whether the folder has one is known when ImageExampleGen has run, not when the
pipeline is compiled.

``trainer/resumable.py`` keys the checkpoint folder by these and the training settings,
and deletes it once RegistryPusher has pushed or refused the model.

Locally the executor is TFX's ``GenericExecutor``; on Vertex AI it is the Vertex
Trainer's executor, which sends ``custom_config`` (digest included) to the
training job, where TFX's ``GenericExecutor`` runs ``run_fn``.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List

from google.protobuf import json_format

from components.private_apis import (
    CUSTOM_CONFIG_KEY,
    BaseChannel,
    BaseComponent,
    Channel,
    ChannelParameter,
    EvalArgs,
    ExecutorClassSpec,
    TrainArgs,
    TrainerExecutor,
    TrainerSpec,
    artifact_utils,
    standard_artifacts,
)
from shared import contract, stage_keys
from shared.records import IngestReport

INGESTED_KEY = "ingested"
TRAIN_ARGS_KEY = "train_args"  # TFX's exec property: TrainArgs as JSON


class ResumableTrainerSpec(TrainerSpec):
    INPUTS = {
        **TrainerSpec.INPUTS,
        INGESTED_KEY: ChannelParameter(type=standard_artifacts.Examples),
    }


def with_input_digest(input_dict: Dict[str, list], exec_properties: Dict[str, Any]) -> Dict[str, Any]:
    """exec_properties whose custom_config also names the inputs by content (``input_digest``) and
    gives the number of training examples (``train_images``)."""
    ingested = artifact_utils.get_single_instance(input_dict[INGESTED_KEY])
    fingerprint = ingested.get_string_custom_property(contract.INPUT_FINGERPRINT)
    report = IngestReport.read(os.path.join(ingested.uri, contract.INGEST_REPORT_FILE))
    raw = exec_properties.get(CUSTOM_CONFIG_KEY) or "{}"
    custom_config = json.loads(raw) if isinstance(raw, str) else dict(raw)
    custom_config[contract.INPUT_DIGEST_KEY] = stage_keys.key_through(
        "transform", fingerprint, custom_config[contract.INPUT_SETTINGS_KEY]
    )
    splits = [contract.TRAIN_SPLIT]
    if report.splits.get(contract.UNLABELLED_SPLIT) and report.splits[contract.UNLABELLED_SPLIT].written:
        splits.append(contract.UNLABELLED_SPLIT)
    custom_config[contract.TRAIN_IMAGES_KEY] = sum(report.splits[split].written for split in splits)
    encoded = json.dumps(custom_config, sort_keys=True) if isinstance(raw, str) else custom_config
    return {**exec_properties, CUSTOM_CONFIG_KEY: encoded, TRAIN_ARGS_KEY: _train_args(exec_properties, splits)}


def _train_args(exec_properties: Dict[str, Any], splits: List[str]) -> str:
    """The ``train_args`` exec property (TrainArgs as JSON) reading ``splits``."""
    train_args = TrainArgs()
    json_format.Parse(exec_properties.get(TRAIN_ARGS_KEY) or "{}", train_args)
    del train_args.splits[:]
    train_args.splits.extend(splits)
    return json_format.MessageToJson(train_args, sort_keys=True)


class Executor(TrainerExecutor):
    """TFX's GenericExecutor, given the content digest of its inputs."""

    def Do(self, input_dict, output_dict, exec_properties):
        super().Do(input_dict, output_dict, with_input_digest(input_dict, exec_properties))


class Trainer(BaseComponent):
    """TFX's Trainer (run_fn, examples, transform graph) plus the ingested examples (for their data's
    fingerprint and their report's counts; the Trainer reads ``examples``, the transformed ones).

    The pipeline gives it the id ``contract.TRAINER`` whichever executor it runs (``with_id``).
    """

    SPEC_CLASS = ResumableTrainerSpec
    EXECUTOR_SPEC = ExecutorClassSpec(Executor)

    def __init__(
        self,
        ingested: BaseChannel,
        examples: BaseChannel,
        transform_graph: BaseChannel,
        run_fn: str,
        train_args: TrainArgs,
        eval_args: EvalArgs,
        custom_config: Dict[str, Any],
    ):
        super().__init__(
            spec=ResumableTrainerSpec(
                ingested=ingested,
                examples=examples,
                transform_graph=transform_graph,
                run_fn=run_fn,
                train_args=train_args,
                eval_args=eval_args,
                custom_config=json.dumps(custom_config, sort_keys=True),
                model=Channel(type=standard_artifacts.Model),
                model_run=Channel(type=standard_artifacts.ModelRun),
            )
        )
