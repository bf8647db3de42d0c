"""What several commands share: the run options, and a config loaded from them."""

from __future__ import annotations

import argparse
import os
import sys

CONFIG_HELP = "a named config (pipeline/configs/NAME.yaml) or a YAML file"
VERTEX_CONFIG_HELP = "a config with a 'vertex' section (see pipeline/configs/vertex.yaml)"


def print_progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def add_beam_arg(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "--beam-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="extra Beam pipeline option, repeatable (e.g. --beam-arg=--runner=DataflowRunner)",
    )


def add_run_options(sub: argparse.ArgumentParser) -> None:
    """--config, --data, --output, --pipeline-root, --json and --beam-arg: the options of a pipeline run."""
    sub.add_argument("--config", default="local", help=CONFIG_HELP)
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
    add_beam_arg(sub)


def load_run_config(args: argparse.Namespace):
    """The config with the run options applied; local paths made absolute, as components run elsewhere."""
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
