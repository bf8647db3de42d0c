"""Runs the pipeline on Vertex AI Pipelines: compile with KubeflowV2DagRunner, submit, schedule.

The DAG is ``pipeline.create_pipeline`` with ``config.vertex`` set; nothing here
defines components. Requests are built with the Vertex AI SDK's own classes
(``aiplatform.PipelineJob``, ``aiplatform.PipelineJobSchedule``) so that a dry
run can print exactly what a real call sends, without credentials or network.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any, Dict, List, Optional

from components.private_apis import recording_schedule_requests
from pipeline.config import ConfigError, PipelineConfig


def compile_pipeline(config: PipelineConfig, output_path: str) -> Dict[str, Any]:
    """Compiles the pipeline to a Vertex AI Pipelines job spec (JSON) at output_path; returns it.

    Every image in it is pinned to a digest (``pipeline/images.py``).
    """
    from tfx import v1 as tfx

    from pipeline import images
    from pipeline.pipeline import UNCACHED_STEPS, create_pipeline

    config = images.pin(config)
    vertex = config.require_vertex()
    pipeline = create_pipeline(config, pipeline_root=vertex.pipeline_root)
    runner_config = tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(
        default_image=vertex.image, display_name=config.pipeline_name
    )
    with tempfile.TemporaryDirectory() as scratch:
        spec = tfx.orchestration.experimental.KubeflowV2DagRunner(
            config=runner_config, output_dir=scratch, output_filename="pipeline.json"
        ).run(pipeline, write_out=False)
    tasks = spec["pipelineSpec"]["root"]["dag"]["tasks"]
    for task_name, task in tasks.items():
        if task_name in UNCACHED_STEPS:
            task.pop("cachingOptions", None)  # absent means off; it must look at the bucket on every run
        _name_parameter_producers(task, tasks)
    from shared import uri_io

    uri_io.write_text(
        output_path if uri_io.is_remote(output_path) else os.path.abspath(output_path),
        json.dumps(spec, indent=2, sort_keys=True),
    )
    return spec


def _name_parameter_producers(task: Dict[str, Any], tasks: Dict[str, Any]) -> None:
    """Makes each parameter that an upstream task produces name that task as the spec names it.

    TFX 1.16's KubeflowV2 step builder writes ``producerTask: "<id>_task"`` for a parameter taken
    from an upstream output (``channel.future()[0].value``: ImageExampleGen's ``survey``), but
    names the task itself ``<id>``, so Vertex AI would find no producer. Found by ``simclr-tfx rehearse``.
    """
    for parameter in task.get("inputs", {}).get("parameters", {}).values():
        producer = parameter.get("taskOutputParameter")
        if producer and producer["producerTask"] not in tasks:
            name = producer["producerTask"].removesuffix("_task")
            if name not in tasks:
                raise ValueError(
                    f"a parameter names the producer task {producer['producerTask']!r}, which is not in the spec"
                )
            producer["producerTask"] = name


def _credentials(dry_run: bool):
    """Anonymous credentials for dry runs (nothing is sent); Application Default Credentials otherwise."""
    if not dry_run:
        return None
    from google.auth.credentials import AnonymousCredentials

    return AnonymousCredentials()


def pipeline_job(
    config: PipelineConfig, template_path: str, enable_caching: Optional[bool] = None, dry_run: bool = False
):
    """The SDK's PipelineJob for a compiled spec.

    ``enable_caching=None`` keeps the compiled per-step settings (``config.enable_cache``,
    with DataFingerprint never cached); True or False overrides every step.
    """
    from google.cloud import aiplatform

    vertex = config.require_vertex()
    return aiplatform.PipelineJob(
        display_name=config.pipeline_name,
        template_path=template_path,
        pipeline_root=vertex.pipeline_root,
        enable_caching=enable_caching,
        labels={"pipeline": config.pipeline_name.lower(), **vertex.labels},
        project=vertex.project,
        location=vertex.region,
        credentials=_credentials(dry_run),
    )


def _location(config: PipelineConfig) -> str:
    """The parent of the project's pipeline jobs and schedules."""
    vertex = config.require_vertex()
    return f"projects/{vertex.project}/locations/{vertex.region}"


def create_job_request(config: PipelineConfig, job):
    """The CreatePipelineJobRequest that ``job.submit(service_account=..., network=...)`` sends."""
    from google.cloud import aiplatform_v1

    resource = aiplatform_v1.PipelineJob.from_json(json.dumps(job.to_dict()))  # the resource submit() sends
    vertex = config.require_vertex()
    resource.service_account = vertex.service_account
    if vertex.network:
        resource.network = vertex.network
    return aiplatform_v1.CreatePipelineJobRequest(
        parent=_location(config),
        pipeline_job=resource,
        pipeline_job_id=job.job_id,
    )


def submit(config: PipelineConfig, job) -> str:
    """Submits for real; returns the PipelineJob resource name."""
    vertex = config.require_vertex()
    job.submit(service_account=vertex.service_account, network=vertex.network)
    return job.resource_name


def schedule_display_name(config: PipelineConfig) -> str:
    return config.require_vertex().schedule.display_name or f"{config.pipeline_name}-retrain"


def create_schedule(config: PipelineConfig, job, cron: Optional[str] = None, dry_run: bool = False):
    """Creates the retraining schedule (at most one run at a time); a dry run returns its CreateScheduleRequest."""
    from google.cloud import aiplatform

    vertex = config.require_vertex()
    schedule = aiplatform.PipelineJobSchedule(
        pipeline_job=job,
        display_name=schedule_display_name(config),
        project=vertex.project,
        location=vertex.region,
        credentials=_credentials(dry_run),
    )

    def create() -> None:
        schedule.create(
            cron=cron or vertex.schedule.cron,
            max_concurrent_run_count=vertex.schedule.max_concurrent_runs,
            service_account=vertex.service_account,
            network=vertex.network,
        )

    if not dry_run:
        create()
        return schedule.resource_name
    with recording_schedule_requests(schedule) as requests:
        create()
    return requests[-1]


def schedule_name(config: PipelineConfig, schedule_id: Optional[str]) -> str:
    """A full schedule resource name from an ID or a full name."""
    if not schedule_id:
        raise ConfigError("pause, resume and delete need the schedule's ID or full name")
    if schedule_id.startswith("projects/"):
        return schedule_id
    return f"{_location(config)}/schedules/{schedule_id}"


def schedule_request(config: PipelineConfig, action: str, schedule_id: Optional[str] = None):
    """The request of a schedule action: list, pause, resume or delete."""
    from google.cloud import aiplatform_v1

    config.require_vertex()
    if action == "list":
        return aiplatform_v1.ListSchedulesRequest(
            parent=_location(config),
            filter=f'display_name="{schedule_display_name(config)}"',
        )
    requests = {
        "pause": aiplatform_v1.PauseScheduleRequest,
        "resume": aiplatform_v1.ResumeScheduleRequest,
        "delete": aiplatform_v1.DeleteScheduleRequest,
    }
    return requests[action](name=schedule_name(config, schedule_id))


def run_schedule_action(config: PipelineConfig, action: str, schedule_id: Optional[str] = None) -> List[Dict]:
    """Performs a schedule action for real with the SDK; returns what it found or changed."""
    from google.cloud import aiplatform

    vertex = config.require_vertex()
    if action == "list":
        request = schedule_request(config, "list")
        return [
            {"name": s.resource_name, "display_name": s.display_name, "state": s.state and s.state.name, "cron": s.cron}
            for s in aiplatform.PipelineJobSchedule.list(
                filter=request.filter, project=vertex.project, location=vertex.region
            )
        ]
    name = schedule_name(config, schedule_id)
    schedule = aiplatform.PipelineJobSchedule.get(schedule_id=name, project=vertex.project, location=vertex.region)
    getattr(schedule, action)()
    return [{"name": name, "action": action}]
