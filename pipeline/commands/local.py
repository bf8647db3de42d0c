"""``simclr-tfx ingest`` and ``simclr-tfx run``: the pipeline on this machine (``pipeline/local_runner.py``)."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any, Dict

from pipeline.commands import printing
from pipeline.commands.common import add_run_options, load_run_config, print_progress


def add_commands(commands) -> None:
    ingest = commands.add_parser(
        "ingest",
        help="turn an image folder into validated TFRecords",
        description="Runs ingestion and data validation: ImageExampleGen, StatisticsGen, SchemaGen, ExampleValidator.",
    )
    add_run_options(ingest)
    ingest.set_defaults(func=cmd_ingest)
    run = commands.add_parser(
        "run",
        help="run the whole local pipeline",
        description="Runs the pipeline with LocalDagRunner: ingest, validate, transform, pretrain, "
        "linear evaluation, blessing, push to the model registry.",
    )
    add_run_options(run)
    run.add_argument("--registry", help="local model registry folder (default: the config's registry.root)")
    run.set_defaults(func=cmd_run)


def cmd_ingest(args: argparse.Namespace) -> int:
    _, summary = _run(args, until="ingest")
    if args.json:
        print(json.dumps(summary))
    else:
        printing.ingest_table(summary)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    run, summary = _run(args, until="push")
    if not summary.get("skipped"):
        summary["pretraining"] = _pretraining_summary(run)
        summary.update(_evaluation_summary(run))
    if args.json:
        print(json.dumps(summary))
    else:
        printing.run_summary(summary)
    return 0


def _run(args: argparse.Namespace, until: str):
    """Runs the pipeline up to a stage; returns the run and its ingestion summary."""
    config = load_run_config(args)
    from components.ingest.data_fingerprint import BLESS_PROPERTY
    from pipeline.local_runner import run_pipeline
    from shared import contract
    from shared.records import IngestReport

    run = run_pipeline(config, until=until, beam_args=args.beam_arg, progress=print_progress)
    snapshot = run.latest_outputs(contract.DATA_FINGERPRINT)["snapshot"][0]
    if until == "push" and not snapshot.custom_properties[BLESS_PROPERTY].int_value:
        return run, _skipped_summary(run, snapshot.uri)
    examples = run.latest_outputs(contract.IMAGE_EXAMPLE_GEN)["examples"][0]
    report_path = os.path.join(examples.uri, contract.INGEST_REPORT_FILE)
    report = IngestReport.read(report_path)
    return run, {
        **report.model_dump(
            mode="json",
            include={
                "splits",
                "split_folders",
                "classes",
                "ignored",
                "warnings",
                "duplicates",
                "cross_split_duplicates",
            },
        ),
        "rejected": [{"path": note.path, "reason": note.reason} for note in report.rejected],
        "output": examples.uri,
        "report": report_path,
        "metadata": run.metadata_path,
    }


def _skipped_summary(run, snapshot_uri: str) -> Dict[str, Any]:
    """A run that blessed and pushed nothing: the champion was made from this data and these settings."""
    from shared import contract
    from shared.records import Snapshot

    snapshot = Snapshot.read(os.path.join(snapshot_uri, contract.SNAPSHOT_FILE))
    return {
        "skipped": True,
        "reason": snapshot.reason,
        "data_fingerprint": snapshot.data_fingerprint,
        "champion_version": snapshot.champion_version,
        "metrics": None,
        "blessed": None,
        "version": None,
        "pushed_this_run": False,
        "metadata": run.metadata_path,
    }


def _pretraining_summary(run) -> Dict[str, Any]:
    from components.evaluation.embedder import serving_model_dir
    from shared import contract, uri_io

    trainer = run.latest_outputs(contract.TRAINER)
    model_run = trainer["model_run"][0].uri
    history_path = os.path.join(model_run, contract.HISTORY_FILE)
    return {
        # None: epochs 0 trains nothing (the random-init baseline)
        "final_epoch": uri_io.read_json(history_path)[-1] if uri_io.exists(history_path) else None,
        "model": serving_model_dir(trainer["model"][0].uri),
        "loss_curve": os.path.join(model_run, contract.LOSS_CURVE_FILE),
        "tensorboard": model_run,
    }


def _evaluation_summary(run) -> Dict[str, Any]:
    from shared import contract
    from shared.records import Blessing, EvaluationMetrics, PushRecord

    def uri(component: str, output: str) -> str:
        return run.latest_outputs(component)[output][0].uri

    evaluation_dir = uri(contract.LINEAR_EVAL, "evaluation")
    metrics = EvaluationMetrics.read(os.path.join(evaluation_dir, contract.EVALUATION_METRICS_FILE))
    blessing = Blessing.read(os.path.join(uri(contract.BLESSER, "blessing"), contract.BLESSING_FILE))
    push = PushRecord.read(os.path.join(uri(contract.REGISTRY_PUSHER, "pushed_model"), contract.PUSH_FILE))
    headline = {"top1_mean", "top1_sd", "labels_used"}
    summary_metrics: Dict[str, Any] = {
        "linear": {fraction: probe.model_dump(include=headline) for fraction, probe in metrics.linear.items()},
        "knn_top1": metrics.knn_top1,
    }
    if metrics.supervised_baseline:
        summary_metrics["supervised_baseline"] = {
            fraction: result.model_dump(include=headline) for fraction, result in metrics.supervised_baseline.items()
        }
    summary_metrics.update(_finetune_summary(run))
    return {
        "metrics": summary_metrics,
        "report": os.path.join(evaluation_dir, contract.EVALUATION_REPORT_FILE),
        "blessed": blessing.blessed,
        "blessing": blessing.model_dump(mode="json"),
        "version": push.version,
        "registry": push.registry,
        # A run whose pusher was cached pushed nothing new: `version` is the earlier push of this same model.
        "pushed_this_run": push.pushed and run.latest_state(contract.REGISTRY_PUSHER) == "COMPLETE",
    }


def _finetune_summary(run) -> Dict[str, Any]:
    """FineTuner's figures and its classifier, when the config fine-tunes (``finetune``)."""
    from shared import contract
    from shared.records import FinetuneMetrics, PushRecord

    outputs = run.latest_outputs(contract.FINE_TUNER)
    if not outputs:
        return {}
    metrics = FinetuneMetrics.read(os.path.join(outputs["evaluation"][0].uri, contract.FINETUNE_METRICS_FILE))
    headline = {"top1_mean", "top1_sd", "labels_used"}
    push = PushRecord.read(
        os.path.join(run.latest_outputs(contract.CLASSIFIER_PUSHER)["pushed_model"][0].uri, contract.PUSH_FILE)
    )
    return {
        "finetuned": {fraction: result.model_dump(include=headline) for fraction, result in metrics.finetuned.items()},
        "distilled": {fraction: result.model_dump(include=headline) for fraction, result in metrics.distilled.items()},
        "classifier": {
            "model": os.path.join(outputs["model"][0].uri, contract.SERVING_DIR),
            "top1": metrics.exported_top1,
            "labels_used": metrics.exported_labels,
            "distilled_images": metrics.exported_distilled_images,
            "version": push.version,
            "registry": push.registry,
            "reasons": push.reasons,
        },
    }
