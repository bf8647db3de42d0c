"""The TFX APIs outside ``tfx.v1`` that this project uses, each named once here with its reason.

``tfx.v1`` covers function components (``tfx.v1.dsl.components``), artifacts and the standard
components. It has nothing for what these components also need:

* a class-based component with its own spec and executor (``ComponentSpec``,
  ``ChannelParameter``, ``ExecutionParameter``, ``executor_spec``, the base component and
  executor classes): ImageExampleGen runs a Beam pipeline of its own, the Trainer extends the
  standard Trainer's spec and executors (``TrainerSpec``, ``GenericExecutor``, the Vertex AI
  training executor), and RegistryPusher needs the run it belongs to;
* the split-name encoding and single-artifact helpers every executor uses (``artifact_utils``);
* the file prefix every ExampleGen writes its TFRecords under (``EXAMPLES_FILE_PREFIX``);
* the pipeline name and run id of an executing component, which TFX keeps only on the
  executor's private ``_context`` (``pipeline_run``).

And one reason applies to the public names themselves: ``import tfx.v1`` loads the Vertex AI SDK
(``tfx.v1.extensions`` imports ``google.cloud.aiplatform`` and with it every gapic client), which
adds seconds to every process's start (11-22 s measured here at every process start). Every
Vertex AI task, and each rehearsed one, starts a process that imports one component module, so
the component modules take the names ``tfx.v1`` re-exports (function-component annotations and
decorator, standard artifacts, ``Artifact``, ``Channel``, ``BaseChannel``) from the modules that
define them, here. The pipeline definition and the runners, which load the SDK anyway, use
``tfx.v1``.

One use of the Vertex AI SDK is here too: ``recording_schedule_requests`` puts a recorder in
place of a ``PipelineJobSchedule``'s ``api_client``, so that ``schedule create --dry-run``
prints the exact request the SDK builds (its cron, concurrency and pipeline job) without
sending it. The SDK has no public dry run.

If an upgrade moves one of these, this is the one file to change.
"""

import contextlib
import copy
import logging
from typing import Any, Iterator, List, Optional, Tuple

from tfx.components.example_gen.write_split import DEFAULT_FILE_NAME as EXAMPLES_FILE_PREFIX
from tfx.components.trainer.executor import GenericExecutor as TrainerExecutor
from tfx.dsl.component.experimental.annotations import (
    BeamComponentParameter,
    InputArtifact,
    OutputArtifact,
    OutputDict,
    Parameter,
)
from tfx.dsl.component.experimental.decorators import component
from tfx.dsl.components.base.base_beam_component import BaseBeamComponent
from tfx.dsl.components.base.base_beam_executor import BaseBeamExecutor
from tfx.dsl.components.base.base_component import BaseComponent
from tfx.dsl.components.base.base_executor import BaseExecutor
from tfx.dsl.components.base.executor_spec import BeamExecutorSpec, ExecutorClassSpec
from tfx.proto.trainer_pb2 import EvalArgs, TrainArgs
from tfx.types import artifact_utils, standard_artifacts
from tfx.types.artifact import Artifact
from tfx.types.channel import BaseChannel, Channel
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter
from tfx.types.standard_component_specs import CUSTOM_CONFIG_KEY, TrainerSpec

__all__ = [
    "EXAMPLES_FILE_PREFIX",
    "TrainerExecutor",
    "BaseBeamComponent",
    "BaseBeamExecutor",
    "BaseComponent",
    "BaseExecutor",
    "BeamExecutorSpec",
    "ExecutorClassSpec",
    "EvalArgs",
    "TrainArgs",
    "artifact_utils",
    "ChannelParameter",
    "ComponentSpec",
    "ExecutionParameter",
    "CUSTOM_CONFIG_KEY",
    "TrainerSpec",
    "pipeline_run",
    "Artifact",
    "BaseChannel",
    "BeamComponentParameter",
    "Channel",
    "InputArtifact",
    "OutputArtifact",
    "OutputDict",
    "Parameter",
    "component",
    "standard_artifacts",
]


def __getattr__(name: str):
    # Loaded on first use: it imports the Vertex AI SDK, which only the Vertex Trainer needs.
    if name == "VertexTrainerExecutor":
        from tfx.extensions.google_cloud_ai_platform.trainer.executor import GenericExecutor

        return GenericExecutor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def pipeline_run(executor: BaseExecutor) -> Tuple[Optional[str], Optional[str]]:
    """(pipeline name, run id) of the run an executor is part of; (None, None) when TFX gave it no context."""
    context = getattr(executor, "_context", None)
    if context is None:
        return None, None
    name = context.pipeline_info.id if context.pipeline_info else None
    return name, context.pipeline_run_id


class _ScheduleRecorder:
    """Stands in for the Vertex AI schedule service: keeps each CreateScheduleRequest, sends nothing."""

    def __init__(self) -> None:
        self.requests: List[Any] = []

    def create_schedule(self, parent, schedule, timeout=None):
        from google.cloud import aiplatform_v1

        self.requests.append(aiplatform_v1.CreateScheduleRequest(parent=parent, schedule=copy.deepcopy(schedule)))
        created = copy.deepcopy(schedule)
        created.name = f"{parent}/schedules/dry-run"  # what the service would answer with, so the SDK can go on
        return created


@contextlib.contextmanager
def recording_schedule_requests(schedule) -> Iterator[List[Any]]:
    """Within the block, ``schedule.create(...)`` records its request in the yielded list instead of sending it.

    The SDK's own log lines about the (never created) schedule are silenced for the block only.
    """
    recorder = _ScheduleRecorder()
    schedule.api_client = recorder
    sdk_logger = logging.getLogger("google.cloud.aiplatform")
    loggers = [sdk_logger] + [
        logger
        for name, logger in logging.Logger.manager.loggerDict.items()
        if name.startswith("google.cloud.aiplatform.") and isinstance(logger, logging.Logger)
    ]
    was_disabled = [logger.disabled for logger in loggers]
    for logger in loggers:
        logger.disabled = True
    try:
        yield recorder.requests
    finally:
        for logger, disabled in zip(loggers, was_disabled):
            logger.disabled = disabled
