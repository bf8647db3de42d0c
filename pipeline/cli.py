"""The ``simclr-tfx`` command line: run the pipeline locally, or compile, submit and schedule it on Vertex AI.

Heavy imports (TensorFlow, TFX) happen inside the commands, so ``--help`` is instant.
User mistakes end with one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import warnings
from typing import Any, Dict, List, Optional

EXIT_USER_ERROR = 2
EXIT_CLOUD_ERROR = 3  # Cloud Storage or Vertex AI refused, or no credentials


def _configure_process(verbose: bool) -> None:
    """Keras and oneDNN chosen before TensorFlow loads (trainer.runtime); warnings off unless verbose."""
    from trainer import runtime

    if not verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
    runtime.configure(quiet=not verbose)


def _configure_logging(verbose: bool) -> None:
    from absl import logging as absl_logging

    level = logging.INFO if verbose else logging.WARNING
    # Without --verbose a filter on absl's logger drops TFX's INFO records, whatever absl's verbosity
    # (TensorFlow's SavedModel writer saves and restores it). Progress lines come from MLMD instead.
    absl_logging.set_verbosity(absl_logging.INFO)
    logging.getLogger().setLevel(level)
    if not verbose:
        logging.getLogger("apache_beam").setLevel(logging.ERROR)
        _drop_tfx_info_logs()


# TFX and TFT warnings that say nothing a user can act on.
_NOISE = (
    "ArtifactQuery.property_predicate is not supported",
    "Tables initialized inside a tf.function",
    "Importing a function (",  # loading a SavedModel whose gradients are never asked for
)


class _TfxInfoFilter(logging.Filter):
    """Drops TFX's INFO logs and its noise; a failed execution is reported once, by main(), as one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return record.levelno >= logging.WARNING and not message.startswith(("Execution ",) + _NOISE)


def _drop_tfx_info_logs() -> None:
    absl_logger = logging.getLogger("absl")
    if not any(isinstance(f, _TfxInfoFilter) for f in absl_logger.filters):
        absl_logger.addFilter(_TfxInfoFilter())
    absl_logger.setLevel(logging.INFO)


def _print_progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _load_config(args: argparse.Namespace):
    from pipeline.config import load_config

    data = args.data
    if data and not data.startswith("gs://"):
        if not os.path.exists(data):
            from components.errors import DataError

            raise DataError(f"dataset path {data} does not exist: pass --data with an image folder")
        data = os.path.abspath(data)
    registry = getattr(args, "registry", None)
    pipeline_root = getattr(args, "pipeline_root", None)
    if pipeline_root and "://" not in pipeline_root:
        pipeline_root = os.path.abspath(pipeline_root)
    config = load_config(
        args.config,
        data=data,
        output=args.output,
        pipeline_root=pipeline_root,
        registry={"root": os.path.abspath(registry)} if registry else None,
    )
    if config.registry.kind == "local" and not os.path.isabs(config.registry.root):
        # Components run with their own working directory in mind: pin the registry to this one.
        registry_config = config.registry.model_copy(update={"root": os.path.abspath(config.registry.root)})
        config = config.model_copy(update={"registry": registry_config})
    return config


def _ingest_summary(run, report: Dict[str, Any], examples_uri: str) -> Dict[str, Any]:
    return {
        "splits": report["splits"],
        "split_folders": report["split_folders"],
        "classes": report["classes"],
        "rejected": [{"path": r["path"], "reason": r["reason"]} for r in report["rejected"]],
        "ignored": report["ignored"],
        "warnings": report["warnings"],
        "duplicates": report["duplicates"],
        "cross_split_duplicates": report["cross_split_duplicates"],
        "output": examples_uri,
        "report": os.path.join(examples_uri, "ingest_report.json"),
        "metadata": run.metadata_path,
    }


def _print_ingest_table(summary: Dict[str, Any]) -> None:
    print(f"classes: {', '.join(summary['classes'])}")
    print(f"{'split':<12}{'written':>10}{'rejected':>10}")
    for split, counts in sorted(summary["splits"].items()):
        folder = summary["split_folders"].get(split)
        print(
            f"{split:<12}{counts['written']:>10}{counts['rejected']:>10}"
            + (f"  (from folder {folder}/)" if folder and folder != split else "")
        )
    for rejected in summary["rejected"]:
        print(f"rejected {rejected['path']}: {rejected['reason']}")
    for warning in summary["warnings"]:
        print(f"written with a warning {warning['path']}: {warning['reason']}")
    for ignored in summary["ignored"]:
        print(f"ignored {ignored['path']}: {ignored['reason']}")
    for group in summary["duplicates"]:
        where = ", ".join(f"{c['split']}/{c['path']}" for c in group["copies"])
        leak = " (in more than one split: train/test leakage)" if len({c["split"] for c in group["copies"]}) > 1 else ""
        print(f"duplicate images{leak}: {where}")
    print(f"examples: {summary['output']}")


def _run(args: argparse.Namespace, until: str):
    """Runs the pipeline up to a stage; returns the run and its ingestion summary."""
    config = _load_config(args)
    from components.ingest.data_fingerprint import BLESS_PROPERTY
    from pipeline.local_runner import run_pipeline
    from shared import contract, uri_io

    run = run_pipeline(config, until=until, beam_args=args.beam_arg, progress=_print_progress)
    snapshot = run.latest_outputs(contract.DATA_FINGERPRINT)["snapshot"][0]
    if until == "push" and not snapshot.custom_properties[BLESS_PROPERTY].int_value:
        return run, _skipped_summary(run, snapshot)
    examples = run.latest_outputs(contract.IMAGE_EXAMPLE_GEN)["examples"][0]
    report = uri_io.read_json(os.path.join(examples.uri, contract.INGEST_REPORT_FILE))
    return run, _ingest_summary(run, report, examples.uri)


def _skipped_summary(run, snapshot) -> Dict[str, Any]:
    """A run that blessed and pushed nothing: the champion was made from this data and these settings."""
    from shared import contract, uri_io

    record = uri_io.read_json(os.path.join(snapshot.uri, contract.SNAPSHOT_FILE))
    return {
        "skipped": True,
        "reason": record["reason"],
        "data_fingerprint": record["data_fingerprint"],
        "champion_version": record["champion_version"],
        "metrics": None,
        "blessed": None,
        "version": None,
        "pushed_this_run": False,
        "metadata": run.metadata_path,
    }


def cmd_ingest(args: argparse.Namespace) -> int:
    _, summary = _run(args, until="ingest")
    if args.json:
        print(json.dumps(summary))
    else:
        _print_ingest_table(summary)
    return 0


def _pretraining_summary(run) -> Dict[str, Any]:
    from components.evaluation.embedder import serving_model_dir
    from shared import contract, uri_io

    trainer = run.latest_outputs(contract.TRAINER)
    model_run = trainer["model_run"][0].uri
    history_path = os.path.join(model_run, contract.HISTORY_FILE)
    last = None  # epochs: 0 trains nothing (the random-init baseline)
    if uri_io.exists(history_path):
        last = uri_io.read_json(history_path)[-1]
    return {
        "final_epoch": last,
        "model": serving_model_dir(trainer["model"][0].uri),
        "loss_curve": os.path.join(model_run, contract.LOSS_CURVE_FILE),
        "tensorboard": model_run,
    }


def _evaluation_summary(run) -> Dict[str, Any]:
    from shared import contract, uri_io

    def read(component: str, output: str, name: str) -> Dict[str, Any]:
        return uri_io.read_json(os.path.join(run.latest_outputs(component)[output][0].uri, name))

    metrics = read(contract.LINEAR_EVAL, "evaluation", contract.EVALUATION_METRICS_FILE)
    blessing = read(contract.BLESSER, "blessing", contract.BLESSING_FILE)
    push = read(contract.REGISTRY_PUSHER, "pushed_model", contract.PUSH_FILE)
    evaluation_dir = run.latest_outputs(contract.LINEAR_EVAL)["evaluation"][0].uri
    headline = ("top1_mean", "top1_sd", "labels_used")
    summary_metrics = {
        "linear": {fraction: {k: probe[k] for k in headline} for fraction, probe in metrics["linear"].items()},
        "knn_top1": metrics["knn_top1"],
    }
    if "supervised_baseline" in metrics:
        summary_metrics["supervised_baseline"] = {
            fraction: {k: result[k] for k in headline} for fraction, result in metrics["supervised_baseline"].items()
        }
    return {
        "metrics": summary_metrics,
        "report": os.path.join(evaluation_dir, contract.EVALUATION_REPORT_FILE),
        "blessed": blessing["blessed"],
        "blessing": blessing,
        "version": push["version"],
        "registry": push["registry"],
        # A run whose pusher was cached pushed nothing new: `version` is the earlier push of this same model.
        "pushed_this_run": push["pushed"] and run.latest_state(contract.REGISTRY_PUSHER) == "COMPLETE",
    }


def cmd_run(args: argparse.Namespace) -> int:
    run, summary = _run(args, until="push")
    if summary.get("skipped"):
        print(json.dumps(summary) if args.json else f"nothing to do, nothing pushed: {summary['reason']}")
        return 0
    summary["pretraining"] = _pretraining_summary(run)
    summary.update(_evaluation_summary(run))
    if args.json:
        print(json.dumps(summary))
        return 0
    _print_ingest_table(summary)
    pretraining = summary["pretraining"]
    last = pretraining["final_epoch"]
    if last:
        knn = f", kNN top-1 {last['knn_top1']:.3f}" if "knn_top1" in last else ""
        print(
            f"pretraining: epoch {last['epoch']}, loss {last['loss']:.4f}, contrastive top-1 "
            f"{last['contrastive_accuracy']:.3f}{knn}"
        )
    else:
        print("pretraining: none (epochs: 0), the encoder is untrained")
    print(f"encoder (SavedModel): {pretraining['model']}")
    for fraction, probe in summary["metrics"]["linear"].items():
        supervised = summary["metrics"].get("supervised_baseline", {}).get(fraction)
        beside = f" (supervised from scratch: {100 * supervised['top1_mean']:.1f} %)" if supervised else ""
        print(
            f"linear eval, {float(fraction):.0%} labels: top-1 {100 * probe['top1_mean']:.1f} "
            f"± {100 * probe['top1_sd']:.1f} %{beside}"
        )
    print(f"kNN (k=20) top-1: {100 * summary['metrics']['knn_top1']:.1f} %")
    print(f"report: {summary['report']}")
    reasons = "; ".join(summary["blessing"]["reasons"])
    if summary["version"] and not summary["pushed_this_run"]:
        print(f"nothing changed since this model was pushed as version {summary['version']} to {summary['registry']}")
    elif summary["version"]:
        print(f"blessed ({reasons}): pushed version {summary['version']} to {summary['registry']}")
    else:
        print(f"not pushed: {reasons}")
    return 0


def _registry_of(args: argparse.Namespace):
    """The config's registry: a local folder (``--registry`` names one), or Vertex AI Model Registry."""
    from components.registry.registries import LocalRegistry, registry_from_config
    from pipeline.config import load_config

    config = load_config(args.config)
    if config.registry.kind == "vertex" and not args.registry:
        settings = config.registry.model_copy(update={"model_name": args.model} if args.model else {})
        return registry_from_config(settings)
    return LocalRegistry(args.registry or config.registry.root, args.model or config.registry.model_name)


def _vertex_registry_command(registry, args: argparse.Namespace) -> int:
    """A registry command on Vertex AI Model Registry; with --dry-run, its requests as JSON lines, unsent."""
    from pipeline.vertex_runner import request_json

    version = getattr(args, "version", None)
    if args.dry_run:
        # Nothing is sent, so the version holding an alias, which a real command reads first, is named instead.
        for request in registry.requests(args.registry_command, version, lambda alias: f"<version holding {alias}>"):
            print(
                json.dumps({"method": type(request).__name__.removesuffix("Request"), "request": request_json(request)})
            )
        return 0
    answers = registry.run(args.registry_command, version)
    if args.registry_command == "list":
        rows = [
            {
                "version": m.version_id,
                "aliases": list(m.version_aliases),
                "top1": int(m.labels["top1-permille"]) / 1000 if "top1-permille" in m.labels else None,
                "created": m.version_create_time.isoformat() if m.version_create_time else None,
            }
            for m in answers
        ]
        if args.json:
            print(json.dumps({"model": registry.parent_model, "versions": rows}))
        for row in [] if args.json else rows:
            top1 = "" if row["top1"] is None else f"{100 * row['top1']:.1f}"
            print(f"{row['version']:<9}{top1:>8}  {row['created'] or '':<27}{','.join(row['aliases'])}")
    elif args.registry_command == "show":
        print(type(answers[0]).to_json(answers[0]))
    else:
        print(f"champion of {registry.parent_model} is now version {answers[-1].version_id}")
    return 0


def cmd_registry(args: argparse.Namespace) -> int:
    from components.registry.registries import LocalRegistry

    registry = _registry_of(args)
    if not isinstance(registry, LocalRegistry):
        return _vertex_registry_command(registry, args)
    if args.dry_run:
        from pipeline.config import ConfigError

        raise ConfigError(
            f"--dry-run prints Vertex AI requests; the registry in {args.config} is the local folder {registry.root}"
        )
    if args.registry_command == "promote":
        registry.promote(args.version)
        print(f"champion of {registry.model_name} is now version {args.version}")
    elif args.registry_command == "rollback":
        print(f"champion of {registry.model_name} rolled back to version {registry.rollback()}")
    elif args.registry_command == "show":
        version = args.version or registry.pointer()["version"]
        if version is None:
            from components.registry.registries import RegistryError

            raise RegistryError(f"model {registry.model_name} in {registry.root} has no champion: name a version")
        print(json.dumps({**registry.metadata(version), "saved_model": registry.saved_model_path(version)}, indent=2))
    else:
        champion = registry.pointer()["version"]
        rows = [registry.metadata(version) for version in registry.versions()]
        if args.json:
            print(json.dumps({"model": registry.model_name, "champion": champion, "versions": rows}))
            return 0
        print(f"{'version':<9}{'top-1':>8}  {'pushed at':<27}champion")
        for row in rows:
            top1 = row.get("blessing", {}).get("top1")
            mark = "*" if row["version"] == champion else ""
            print(f"{row['version']:<9}{'' if top1 is None else f'{100 * top1:.1f}':>8}  {row['pushed_at']:<27}{mark}")
        if not rows:
            print(f"no versions of {registry.model_name} in {registry.root}")
    return 0


def _saved_model_of(args: argparse.Namespace) -> str:
    """--model as a SavedModel folder, or as a local registry folder (its champion, or --version)."""
    from components.registry.registries import LocalRegistry, RegistryError
    from pipeline.config import load_config
    from shared import uri_io

    if uri_io.exists(uri_io.join(args.model, "saved_model.pb")):
        if args.version:
            raise RegistryError(f"--version {args.version} names a registry version, but {args.model} is a SavedModel")
        return args.model
    registry = LocalRegistry(args.model, args.model_name or load_config(args.config).registry.model_name)
    version = args.version or registry.pointer()["version"]
    if version not in registry.versions():
        raise RegistryError(
            f"{args.model} is neither a SavedModel nor a registry with "
            + (f"version {version}" if version else "a champion")
            + f" of {registry.model_name}"
        )
    return registry.saved_model_path(version)


def cmd_embed(args: argparse.Namespace) -> int:
    from components.errors import DataError
    from components.evaluation import embedder, embeddings
    from pipeline import cloud_errors
    from pipeline.config import load_config
    from shared import uri_io

    if any(str(path).startswith("gs://") for path in (args.model, args.data, args.output)):
        cloud_errors.require_credentials()  # TensorFlow's GCS reader would only say it cannot read the object
    saved_model = _saved_model_of(args)
    if not uri_io.exists(args.data):
        raise DataError(f"--data {args.data} does not exist")
    config = load_config(args.config)
    embedder.embed_folder(
        args.data,
        saved_model,
        args.output,
        [*config.steps_beam_args, *args.beam_arg],
        max_pixels=config.ingest.max_pixels,
    )
    rejected = uri_io.read_text(uri_io.join(args.output, embedder.REJECTED_FILE)).splitlines()
    summary = {
        "model": saved_model,
        "embedded": embeddings.count_rows(args.output),
        "rejected": len(rejected),
        "output": args.output,
    }
    if args.json:
        print(json.dumps(summary))
    else:
        print(
            f"embedded {summary['embedded']} images with {saved_model} into {args.output} "
            f"({embeddings.FILE_PREFIX}-*{embeddings.FILE_SUFFIX}); {len(rejected)} files were not images "
            f"(reasons in {embedder.REJECTED_FILE})"
        )
    return 0


def cmd_schema_export(args: argparse.Namespace) -> int:
    from components.errors import DataError
    from pipeline.config import load_config
    from pipeline.local_runner import LocalRun
    from pipeline.schema import export_curated
    from shared import contract

    config = load_config(args.config, output=args.output)
    run = LocalRun(os.path.abspath(config.output), config.pipeline_name)
    schemas = run.latest_outputs(contract.SCHEMA_GEN).get("schema") if os.path.exists(run.metadata_path) else None
    if not schemas:
        raise DataError(
            f"no inferred schema in {run.output}: run 'simclr-tfx ingest' with this --config and --output first"
        )
    examples = run.latest_outputs(contract.IMAGE_EXAMPLE_GEN)["examples"][0]
    classes = json.loads(examples.custom_properties["classes"].string_value)
    export_curated(os.path.join(schemas[0].uri, "schema.pbtxt"), classes, args.to)
    print(f"wrote {args.to}; set validation.schema_path to it in your config")
    return 0


def _compiled(args: argparse.Namespace):
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
    config, spec = _compiled(args)
    vertex = config.vertex
    print(
        f"wrote {spec}: pipeline {config.pipeline_name} for Vertex AI Pipelines in {vertex.project}/{vertex.region}, "
        f"image {vertex.image}, trainer preset '{vertex.trainer.preset}' on {vertex.trainer.image or vertex.image}"
    )
    return 0


def _print_request(request) -> None:
    from pipeline import vertex_runner

    print(json.dumps({"request": type(request).__name__, "body": vertex_runner.request_json(request)}, indent=2))


def cmd_submit(args: argparse.Namespace) -> int:
    from pipeline import vertex_runner

    config, spec = _compiled(args)
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
        config, spec = _compiled(args)
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
    for row in vertex_runner.run_schedule_action(config, action, getattr(args, "schedule", None)):
        print(json.dumps(row))
    return 0


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


def cmd_rehearse(args: argparse.Namespace) -> int:
    from pipeline import vertex_runner
    from pipeline.offline_cloud import rehearsal

    local_data = args.data and not args.data.startswith("gs://")
    if local_data and not os.path.isdir(args.data):
        from components.errors import DataError

        raise DataError(f"dataset path {args.data} does not exist or is not a folder: pass --data with an image folder")
    config = _load_config(argparse.Namespace(**{**vars(args), "data": None if local_data else args.data}))
    config.require_vertex()
    workdir = os.path.abspath(os.path.join(config.output, "rehearsal"))
    fake = _fake_gcs_environment(config, os.path.join(workdir, "gcs"))
    vertex_api = _fake_vertex_api(config, workdir)
    try:
        if local_data:
            count = rehearsal.upload_folder(os.path.abspath(args.data), config.data)
            print(f"copied {count} files from {args.data} to {config.data}", file=sys.stderr)
        spec_path = os.path.join(workdir, "pipeline.json")
        spec = vertex_runner.compile_pipeline(config, spec_path)
        print(f"compiled {spec_path}; running it as Vertex AI would, against the fake bucket", file=sys.stderr)
        # Tasks inherit this process's environment, which points at the fake bucket.
        env = {
            name: text
            for name, text in (
                (rehearsal.PREEMPT_ENV, args.preempt_trainer_after),
                (rehearsal.FAIL_ENV, args.fail_trainer_after),
            )
            if text
        }
        env.update(vertex_api.env() if vertex_api else {})
        run = rehearsal.Rehearsal(
            config,
            spec,
            workdir,
            env,
            progress=lambda line: print(line, file=sys.stderr, flush=True),
            enable_caching=not args.no_cache,
        )
        results = run.run()
        summary = {
            "tasks": {name: {"state": r.state, "seconds": round(r.seconds, 1)} for name, r in results.items()},
            "pipeline_root": run.job_root,
            "pushed": rehearsal.pushed_version(results),
            "registry": _fake_registry_state(config, vertex_api),
        }
    finally:
        if fake:
            fake.stop()
        if vertex_api:
            vertex_api.stop()
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


def cmd_fake_gcs(args: argparse.Namespace) -> int:
    from pipeline.offline_cloud import fake_gcs

    fake_gcs.serve(args.bucket or ["simclr-offline"], args.port)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="simclr-tfx", description=__doc__.splitlines()[0])
    parser.add_argument("--verbose", action="store_true", help="show TFX, Beam and TensorFlow logs")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add_common(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--config", default="local", help="a named config (pipeline/configs/NAME.yaml) or a YAML file")
        sub.add_argument("--data", help="image folder, local or gs:// (default: the config's 'data')")
        sub.add_argument(
            "--output", help="run directory: artifacts and the MLMD SQLite store (default: the config's 'output')"
        )
        sub.add_argument(
            "--pipeline-root",
            help="where artifacts go, a folder or gs:// URI "
            "(default: <output>/pipeline_root; the metadata store stays in --output)",
        )
        sub.add_argument("--json", action="store_true", help="print one JSON object on stdout")
        sub.add_argument(
            "--beam-arg",
            action="append",
            default=[],
            metavar="ARG",
            help="extra Beam pipeline option, repeatable (e.g. --beam-arg=--runner=DataflowRunner)",
        )

    ingest = commands.add_parser(
        "ingest",
        help="turn an image folder into validated TFRecords",
        description="Runs ingestion and data validation: ImageExampleGen, StatisticsGen, SchemaGen, ExampleValidator.",
    )
    add_common(ingest)
    ingest.set_defaults(func=cmd_ingest)

    run = commands.add_parser(
        "run",
        help="run the whole local pipeline",
        description="Runs the pipeline with LocalDagRunner: ingest, validate, transform, pretrain, "
        "linear evaluation, blessing, push to the model registry.",
    )
    add_common(run)
    run.add_argument("--registry", help="local model registry folder (default: the config's registry.root)")
    run.set_defaults(func=cmd_run)

    registry = commands.add_parser("registry", help="list, inspect, promote or roll back registry versions")
    registry_commands = registry.add_subparsers(dest="registry_command", required=True, metavar="ACTION")
    for action, text in (
        ("list", "versions, their top-1 and the champion"),
        ("show", "one version's metadata"),
        ("promote", "make a version the champion"),
        ("rollback", "restore the previous champion"),
    ):
        sub = registry_commands.add_parser(action, help=text, description=text[0].upper() + text[1:] + ".")
        sub.add_argument("--registry", help="registry folder (default: the config's registry.root)")
        sub.add_argument("--model", help="model name (default: the config's registry.model_name)")
        sub.add_argument("--config", default="local", help="config whose registry settings are the defaults")
        sub.add_argument(
            "--dry-run",
            action="store_true",
            help="registry kind vertex: print the Vertex AI requests as JSON lines, send nothing",
        )
        if action in ("show", "promote"):
            sub.add_argument(
                "version",
                nargs="?" if action == "show" else None,
                help="version number" + (" (default: the champion)" if action == "show" else ""),
            )
        if action == "list":
            sub.add_argument("--json", action="store_true", help="print one JSON object on stdout")
        sub.set_defaults(func=cmd_registry)

    embed = commands.add_parser(
        "embed",
        help="embed a folder of images with a trained encoder",
        description="Runs the pipeline's embedding step (Beam RunInference over the SavedModel) on every image "
        "below --data and writes Parquet shards: relative_path, sha256, label_id (-1) and the float16 "
        "embedding (see components/evaluation/embeddings.py for reading them with pandas or numpy).",
    )
    embed.add_argument(
        "--model", required=True, help="a SavedModel folder (local or gs://), or a local registry folder (its champion)"
    )
    embed.add_argument("--version", help="with a registry: this version instead of the champion")
    embed.add_argument("--model-name", help="with a registry: the model (default: the config's registry.model_name)")
    embed.add_argument("--data", required=True, help="an image folder, local or gs://")
    embed.add_argument("--output", required=True, help="folder for the shards, local or gs://")
    embed.add_argument("--config", default="local", help="config for the Beam options and the pixel limit")
    embed.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    embed.add_argument(
        "--beam-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="extra Beam pipeline option, repeatable (e.g. --beam-arg=--runner=DataflowRunner)",
    )
    embed.set_defaults(func=cmd_embed)

    schema = commands.add_parser("schema", help="manage the curated data schema")
    schema_commands = schema.add_subparsers(dest="schema_command", required=True, metavar="ACTION")
    export = schema_commands.add_parser(
        "export",
        help="write the latest inferred schema, curated, for checking in",
        description="Copies the schema that SchemaGen inferred in a run, without value domains on per-image "
        "identity features, so that it can be set as validation.schema_path.",
    )
    export.add_argument("--config", default="local", help="the config the run used (for its pipeline name)")
    export.add_argument("--output", help="the run directory (default: the config's 'output')")
    export.add_argument("--to", required=True, help="where to write the curated schema.pbtxt")
    export.set_defaults(func=cmd_schema_export)

    vertex_help = "a config with a 'vertex' section (see pipeline/configs/vertex.yaml)"
    compile_ = commands.add_parser(
        "compile",
        help="compile the pipeline for Vertex AI Pipelines",
        description="Builds the same pipeline as 'run' and compiles it with KubeflowV2DagRunner to a job spec.",
    )
    compile_.add_argument("--config", required=True, help=vertex_help)
    compile_.add_argument("--output", help="where to write the spec (default: <config output>/pipeline.json)")
    compile_.set_defaults(func=cmd_compile)

    submit = commands.add_parser(
        "submit",
        help="submit the pipeline to Vertex AI Pipelines",
        description="Compiles (or takes --spec) and submits an aiplatform.PipelineJob.",
    )
    submit.add_argument("--config", required=True, help=vertex_help)
    submit.add_argument("--spec", help="a spec from 'simclr-tfx compile' (default: compile now)")
    submit.add_argument("--no-cache", action="store_true", help="run every step even if a cached result exists")
    submit.add_argument("--dry-run", action="store_true", help="print the exact request; send nothing")
    submit.set_defaults(func=cmd_submit)

    rehearse = commands.add_parser(
        "rehearse",
        help="run the compiled Vertex AI pipeline offline, task by task, on a fake GCS bucket and Vertex AI API",
        description="Compiles the pipeline as 'compile' does, then runs the spec as Vertex AI Pipelines would: "
        "each task's container command with its executor input, trigger conditions, caching, DirectRunner for "
        "Dataflow, and the Trainer's custom job recorded and run as a local process. A Vertex AI registry is "
        "served by a fake Vertex AI API. The bucket, the cache and the registry stay under the output folder, "
        "so rehearsals one after another behave as a schedule's runs.",
    )
    rehearse.add_argument("--config", required=True, help=vertex_help)
    rehearse.add_argument("--data", help="a local image folder to copy into the config's gs:// data path first")
    rehearse.add_argument("--output", help="where the rehearsal's spec, logs and cache go (default: the config's)")
    rehearse.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    rehearse.add_argument("--no-cache", action="store_true", help="run every task even if a cached result exists")
    rehearse.add_argument(
        "--preempt-trainer-after",
        metavar="TEXT",
        help="kill the training worker once TEXT is in its log, as a preemption would",
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

    schedule = commands.add_parser("schedule", help="scheduled retraining on Vertex AI (PipelineJobSchedule)")
    schedule_commands = schedule.add_subparsers(dest="schedule_command", required=True, metavar="ACTION")
    for action, text in (
        ("create", "create the retraining schedule (one run at a time)"),
        ("list", "list this pipeline's schedules"),
        ("pause", "pause a schedule"),
        ("resume", "resume a paused schedule"),
        ("delete", "delete a schedule"),
    ):
        sub = schedule_commands.add_parser(action, help=text, description=text[0].upper() + text[1:] + ".")
        sub.add_argument("--config", required=True, help=vertex_help)
        sub.add_argument("--dry-run", action="store_true", help="print the exact request; send nothing")
        if action == "create":
            sub.add_argument("--cron", help="cron expression, e.g. '0 3 * * 1' (default: vertex.schedule.cron)")
            sub.add_argument("--spec", help="a spec from 'simclr-tfx compile' (default: compile now)")
        elif action != "list":
            sub.add_argument("schedule", help="schedule ID or full resource name (from 'schedule list')")
        sub.set_defaults(func=cmd_schedule)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    _configure_process(args.verbose)
    from components.errors import DataError
    from pipeline.config import ConfigError

    try:
        _configure_logging(args.verbose)
        return args.func(args)
    except (DataError, ConfigError) as error:
        print(f"simclr-tfx: error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except Exception as error:  # a cloud failure (credentials, permission, a missing resource): one line
        from pipeline import cloud_errors

        line = cloud_errors.one_line(error)
        if line is None:
            raise
        print(f"simclr-tfx: error: {line}", file=sys.stderr)
        return EXIT_CLOUD_ERROR


if __name__ == "__main__":
    sys.exit(main())
