"""``simclr-tfx embed``: a trained encoder over every image of a folder, into Parquet shards."""

from __future__ import annotations

import argparse
import json

from pipeline.commands.common import add_beam_arg


def add_commands(commands) -> None:
    embed = commands.add_parser(
        "embed",
        help="embed a folder of images with a trained encoder",
        description="Runs the pipeline's embedding step (Beam RunInference over the SavedModel) on every image "
        "below --data and writes Parquet shards: relative_path, sha256, label_id (-1) and the float16 "
        "embedding (see components/evaluation/embeddings.py for reading them with pandas or numpy).",
    )
    add_folder_options(
        embed, "a SavedModel folder (local or gs://), or a local registry folder (its champion)", "the shards"
    )
    embed.set_defaults(func=cmd_embed)


def add_folder_options(parser, model_help: str, output_help: str) -> None:
    """The options of a command that runs a model over a folder: --model (and --version, --model-name for a
    registry), --data, --output, --config, --json and --beam-arg."""
    parser.add_argument("--model", required=True, help=model_help)
    parser.add_argument("--version", help="with a registry: this version instead of the champion")
    parser.add_argument("--model-name", help="with a registry: the model (default: the config's registry.model_name)")
    parser.add_argument("--data", required=True, help="an image folder, local or gs://")
    parser.add_argument("--output", required=True, help=f"folder for {output_help}, local or gs://")
    parser.add_argument("--config", default="local", help="config for the Beam options and the pixel limit")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    add_beam_arg(parser)


def saved_model_of(args: argparse.Namespace) -> str:
    """--model as a SavedModel folder, or as a local registry folder (its champion, or --version)."""
    from components.registry.local import LocalRegistry
    from components.registry.protocol import RegistryError
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
    saved_model = saved_model_of(args)
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
