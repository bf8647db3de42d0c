"""``simclr-tfx predict``: a fine-tuned classifier over every file of a folder, into Parquet and CSV."""

from __future__ import annotations

import argparse
import json

from pipeline.commands.embed import add_folder_options


def add_commands(commands) -> None:
    predict = commands.add_parser(
        "predict",
        help="label a folder of images with a fine-tuned classifier",
        description="Runs the classifier SavedModel (FineTuner's export) with Beam RunInference on every file "
        "below --data and writes one row per file (relative_path, sha256, label, probability, reason) into "
        "Parquet shards (parquet/) and predictions.csv: a predicted label, or the reason the file got none "
        "(components/classifier/predictions.py).",
    )
    add_folder_options(
        predict,
        "the classifier: a SavedModel folder, FineTuner's model artifact, or a local registry folder",
        "predictions.csv and the Parquet shards",
    )
    predict.set_defaults(func=cmd_predict)


def cmd_predict(args: argparse.Namespace) -> int:
    from components.classifier import predictions
    from components.errors import DataError
    from pipeline import cloud_errors
    from pipeline.commands.embed import saved_model_of
    from pipeline.config import load_config
    from shared import contract, uri_io

    if any(str(path).startswith("gs://") for path in (args.model, args.data, args.output)):
        cloud_errors.require_credentials()
    if uri_io.exists(uri_io.join(args.model, contract.SERVING_DIR, "saved_model.pb")):  # a Model artifact
        args.model = uri_io.join(args.model, contract.SERVING_DIR)
    config = load_config(args.config)
    args.model_name = args.model_name or config.registry.classifier_model_name  # a registry's classifier
    saved_model = saved_model_of(args)
    if not uri_io.exists(args.data):
        raise DataError(f"--data {args.data} does not exist")
    beam_args = [*config.steps_beam_args, *args.beam_arg]
    predictions.predict_folder(args.data, saved_model, args.output, beam_args, config.ingest.max_pixels)
    labels, not_predicted = predictions.count_rows(args.output)
    summary = {
        "model": saved_model,
        "predicted": sum(labels.values()),
        "not_predicted": not_predicted,
        "labels": dict(sorted(labels.items())),
        "output": args.output,
    }
    if args.json:
        print(json.dumps(summary))
    else:
        print(
            f"labelled {summary['predicted']} images with {saved_model} into {args.output} "
            f"({predictions.CSV_FILE} and {predictions.PARQUET_DIR}/); {summary['not_predicted']} files "
            f"were not images (each with its reason there); labels: {summary['labels']}"
        )
    return 0
