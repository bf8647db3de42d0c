"""``simclr-tfx compile``, ``submit`` and ``schedule``: the pipeline on Vertex AI Pipelines
(``pipeline/vertex_runner.py``)."""

from __future__ import annotations

import argparse
import os

from pipeline.commands import printing
from pipeline.commands.common import VERTEX_CONFIG_HELP

SCHEDULE_ACTIONS = (
    ("create", "create the retraining schedule (one run at a time)"),
    ("list", "list this pipeline's schedules"),
    ("pause", "pause a schedule"),
    ("resume", "resume a paused schedule"),
    ("delete", "delete a schedule"),
)


def add_commands(commands) -> None:
    compile_ = commands.add_parser(
        "compile",
        help="compile the pipeline for Vertex AI Pipelines",
        description="Builds the same pipeline as 'run' and compiles it with KubeflowV2DagRunner to a job spec.",
    )
    compile_.add_argument("--config", required=True, help=VERTEX_CONFIG_HELP)
    compile_.add_argument("--output", help="where to write the spec (default: <config output>/pipeline.json)")
    compile_.set_defaults(func=cmd_compile)
    submit = commands.add_parser(
        "submit",
        help="submit the pipeline to Vertex AI Pipelines",
        description="Compiles (or takes --spec) and submits an aiplatform.PipelineJob.",
    )
    submit.add_argument("--config", required=True, help=VERTEX_CONFIG_HELP)
    submit.add_argument("--spec", help="a spec from 'simclr-tfx compile' (default: compile now)")
    submit.add_argument("--no-cache", action="store_true", help="run every step even if a cached result exists")
    submit.add_argument("--dry-run", action="store_true", help="print the exact request; send nothing")
    submit.set_defaults(func=cmd_submit)
    schedule = commands.add_parser("schedule", help="scheduled retraining on Vertex AI (PipelineJobSchedule)")
    actions = schedule.add_subparsers(dest="schedule_command", required=True, metavar="ACTION")
    for action, text in SCHEDULE_ACTIONS:
        sub = actions.add_parser(action, help=text, description=text[0].upper() + text[1:] + ".")
        sub.add_argument("--config", required=True, help=VERTEX_CONFIG_HELP)
        sub.add_argument("--dry-run", action="store_true", help="print the exact request; send nothing")
        if action == "create":
            sub.add_argument("--cron", help="cron expression, e.g. '0 3 * * 1' (default: vertex.schedule.cron)")
            sub.add_argument("--spec", help="a spec from 'simclr-tfx compile' (default: compile now)")
        elif action != "list":
            sub.add_argument("schedule", help="schedule ID or full resource name (from 'schedule list')")
        sub.set_defaults(func=cmd_schedule)


def compiled(args: argparse.Namespace):
    """The config, and the path of its compiled spec (compiled now unless --spec names one)."""
    from pipeline import vertex_runner
    from pipeline.config import load_config

    config = load_config(args.config)
    spec = getattr(args, "spec", None)
    if spec:
        if not os.path.isfile(spec):
            from pipeline.config import ConfigError

            raise ConfigError(f"compiled spec {spec} does not exist: run 'simclr-tfx compile' first")
        return config, spec
    from pipeline import images

    config = images.pin(config)  # what the spec runs: the digests `make image` recorded
    spec = getattr(args, "output", None) or os.path.join(config.output, "pipeline.json")
    vertex_runner.compile_pipeline(config, spec)
    return config, spec


def cmd_compile(args: argparse.Namespace) -> int:
    config, spec = compiled(args)
    vertex = config.vertex
    print(
        f"wrote {spec}: pipeline {config.pipeline_name} for Vertex AI Pipelines in {vertex.project}/{vertex.region}, "
        f"image {vertex.image}, trainer preset '{vertex.trainer.preset}' on {vertex.trainer.image or vertex.image}"
    )
    return 0


def _print_request(request) -> None:
    from shared.api_json import request_json

    printing.request(type(request).__name__, request_json(request))


def cmd_submit(args: argparse.Namespace) -> int:
    from pipeline import vertex_runner

    config, spec = compiled(args)
    job = vertex_runner.pipeline_job(
        config, spec, enable_caching=False if args.no_cache else None, dry_run=args.dry_run
    )
    if args.dry_run:
        _print_request(vertex_runner.create_job_request(config, job))
        return 0
    print(f"submitted {vertex_runner.submit(config, job)}")
    return 0


def cmd_schedule(args: argparse.Namespace) -> int:
    from pipeline import vertex_runner

    action = args.schedule_command
    if action == "create":
        config, spec = compiled(args)
        job = vertex_runner.pipeline_job(config, spec, dry_run=args.dry_run)
        result = vertex_runner.create_schedule(config, job, cron=args.cron, dry_run=args.dry_run)
        if args.dry_run:
            _print_request(result)
        else:
            print(f"created schedule {result}")
        return 0
    from pipeline.config import load_config

    config = load_config(args.config)
    if args.dry_run:
        _print_request(vertex_runner.schedule_request(config, action, getattr(args, "schedule", None)))
        return 0
    printing.json_lines(vertex_runner.run_schedule_action(config, action, getattr(args, "schedule", None)))
    return 0
