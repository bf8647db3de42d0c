"""``simclr-tfx rehearse`` and ``simclr-tfx fake-gcs``: the offline cloud (``pipeline/offline_cloud``), the
only commands that import it."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Dict, Optional

from pipeline.commands.common import VERTEX_CONFIG_HELP, load_run_config, print_progress


def add_commands(commands) -> None:
    rehearse = commands.add_parser(
        "rehearse",
        help="run the compiled Vertex AI pipeline offline, task by task, on a fake GCS bucket and Vertex AI API",
        description="Compiles the pipeline as 'compile' does, then runs the spec as Vertex AI Pipelines would: "
        "each task's container command with its executor input, trigger conditions, caching, DirectRunner for "
        "Dataflow, and the Trainer's custom job recorded and run as a local process. A Vertex AI registry is "
        "served by a fake Vertex AI API. The bucket, the cache and the registry stay under the output folder, "
        "so rehearsals one after another behave as a schedule's runs.",
    )
    rehearse.add_argument("--config", required=True, help=VERTEX_CONFIG_HELP)
    rehearse.add_argument("--data", help="a local image folder to copy into the config's gs:// data path first")
    rehearse.add_argument("--output", help="where the rehearsal's spec, logs and cache go (default: the config's)")
    rehearse.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    rehearse.add_argument("--no-cache", action="store_true", help="run every task even if a cached result exists")
    rehearse.add_argument(
        "--preempt-trainer-after", metavar="TEXT", help="kill the training worker once TEXT is in its log"
    )
    rehearse.add_argument(
        "--fail-trainer-after",
        metavar="TEXT",
        help="fail the training job once TEXT is in its log; submit again to see it resume",
    )
    rehearse.set_defaults(func=cmd_rehearse)
    fake_gcs = commands.add_parser(
        "fake-gcs",
        help="serve a fake GCS bucket on loopback for TensorFlow, Beam and google-cloud-storage",
        description="Starts fake-gcs-server behind a TLS proxy and prints the environment to export.",
    )
    fake_gcs.add_argument("--bucket", action="append", default=[], help="a bucket to create (repeatable)")
    fake_gcs.add_argument("--port", type=int, default=0, help="the proxy's port (default: a free one)")
    fake_gcs.set_defaults(func=cmd_fake_gcs)


def cmd_fake_gcs(args: argparse.Namespace) -> int:
    from pipeline.offline_cloud import fake_gcs

    fake_gcs.serve(args.bucket or ["simclr-offline"], args.port)
    return 0


def cmd_rehearse(args: argparse.Namespace) -> int:
    from pipeline.offline_cloud import rehearsal

    local_data = args.data and not args.data.startswith("gs://")
    if local_data and not os.path.isdir(args.data):
        from components.errors import DataError

        raise DataError(f"dataset path {args.data} does not exist or is not a folder: pass --data with an image folder")
    config = load_run_config(argparse.Namespace(**{**vars(args), "data": None if local_data else args.data}))
    config.require_vertex()
    workdir = os.path.abspath(os.path.join(config.output, "rehearsal"))
    fake = _fake_gcs_environment(config, os.path.join(workdir, "gcs"))
    vertex_api = _fake_vertex_api(config, workdir)
    try:
        if local_data:
            count = rehearsal.upload_folder(os.path.abspath(args.data), config.data)
            print(f"copied {count} files from {args.data} to {config.data}", file=sys.stderr)
        run, results = _rehearse(args, config, workdir, vertex_api)
        summary = {
            "tasks": {name: {"state": r.state, "seconds": round(r.seconds, 1)} for name, r in results.items()},
            "pipeline_root": run.job_root,
            "pushed": rehearsal.pushed_version(results),
            "registry": _fake_registry_state(config, vertex_api),
        }
    finally:
        for server in (fake, vertex_api):
            if server:
                server.stop()
    failed = {name: r for name, r in results.items() if r.state == rehearsal.FAILED}
    if args.json:
        summary["failed"] = {name: {"error": r.error, "log": r.log} for name, r in failed.items()}
        print(json.dumps(summary))
    else:
        print(f"pipeline root: {run.job_root}")
        print(f"pushed: version {summary['pushed']}" if summary["pushed"] else "pushed: nothing")
    for name, result in failed.items():
        print(f"simclr-tfx: error: task {name} failed: {result.error} (log: {result.log})", file=sys.stderr)
    return 1 if failed else 0


def _rehearse(args: argparse.Namespace, config, workdir: str, vertex_api):
    """Compiles the spec and runs it task by task; returns the rehearsal and each task's result."""
    from pipeline import vertex_runner
    from pipeline.offline_cloud import rehearsal

    spec_path = os.path.join(workdir, "pipeline.json")
    spec = vertex_runner.compile_pipeline(config, spec_path)
    print(f"compiled {spec_path}; running it as Vertex AI would, against the fake bucket", file=sys.stderr)
    # Tasks inherit this process's environment, which points at the fake bucket.
    faults = ((rehearsal.PREEMPT_ENV, args.preempt_trainer_after), (rehearsal.FAIL_ENV, args.fail_trainer_after))
    env = {name: text for name, text in faults if text}
    env.update(vertex_api.env() if vertex_api else {})
    run = rehearsal.Rehearsal(config, spec, workdir, env, progress=print_progress, enable_caching=not args.no_cache)
    return run, run.run()


def _fake_gcs_environment(config, keep_in: str):
    """The fake GCS bucket: the one this environment already points at (``simclr-tfx fake-gcs``), else a new one
    that keeps its objects in ``keep_in`` for the next rehearsal."""
    from pipeline.offline_cloud import rehearsal
    from pipeline.offline_cloud.fake_gcs import FakeGcs

    if os.environ.get("STORAGE_EMULATOR_HOST") and os.environ.get("CURL_CA_BUNDLE"):
        from google.cloud import storage

        client = storage.Client(project="offline")
        for bucket in rehearsal.buckets_of(config):
            if client.lookup_bucket(bucket) is None:
                client.create_bucket(bucket)
        return None
    os.makedirs(keep_in, exist_ok=True)
    fake = FakeGcs(rehearsal.buckets_of(config), keep_in=keep_in).start()
    os.environ.update(fake.env())
    return fake


def _fake_vertex_api(config, workdir: str):
    """With a Vertex AI registry, the fake Vertex AI API (pipeline/offline_cloud/fake_vertex.py) that the tasks'
    registry clients reach; its state stays in ``workdir`` for the next rehearsal, as a schedule's next run finds it."""
    if config.registry.kind != "vertex":
        return None
    from pipeline.offline_cloud.fake_vertex import FakeVertex

    registry = config.registry
    os.makedirs(workdir, exist_ok=True)
    endpoints = [registry.deploy_to_endpoint] if registry.deploy_to_endpoint else []
    return FakeVertex(
        os.path.join(workdir, "vertex_api.json"), registry.project, registry.region, endpoints=endpoints
    ).start()


def _fake_registry_state(config, vertex_api) -> Optional[Dict[str, Any]]:
    """The fake registry's aliases and the versions its endpoint serves, after a rehearsal."""
    if vertex_api is None:
        return None
    endpoint = (config.registry.deploy_to_endpoint or "").rsplit("/", 1)[-1]
    return {
        "aliases": vertex_api.aliases(config.registry.model_name),
        "deployed": sorted(d["model_version_id"] for d in vertex_api.deployed(endpoint)) if endpoint else [],
    }
