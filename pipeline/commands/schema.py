"""``simclr-tfx schema export``: the schema a run inferred, curated for checking in (``pipeline/schema.py``)."""

from __future__ import annotations

import argparse
import json
import os


def add_commands(commands) -> None:
    schema = commands.add_parser("schema", help="manage the curated data schema")
    actions = schema.add_subparsers(dest="schema_command", required=True, metavar="ACTION")
    export = actions.add_parser(
        "export",
        help="write the latest inferred schema, curated, for checking in",
        description="Copies the schema that SchemaGen inferred in a run, without value domains on per-image "
        "identity features, so that it can be set as validation.schema_path.",
    )
    export.add_argument("--config", default="local", help="the config the run used (for its pipeline name)")
    export.add_argument("--output", help="the run directory (default: the config's 'output')")
    export.add_argument("--to", required=True, help="where to write the curated schema.pbtxt")
    export.set_defaults(func=cmd_schema_export)


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
