"""``simclr-tfx registry list|show|promote|rollback``: any registry, through its ``Registry`` protocol."""

from __future__ import annotations

import argparse
import json

from pipeline.commands import printing

ACTIONS = (
    ("list", "versions, their top-1 and the champion"),
    ("show", "one version's metadata"),
    ("promote", "make a version the champion"),
    ("rollback", "restore the previous champion"),
)


def add_commands(commands) -> None:
    registry = commands.add_parser("registry", help="list, inspect, promote or roll back registry versions")
    actions = registry.add_subparsers(dest="registry_command", required=True, metavar="ACTION")
    for action, text in ACTIONS:
        sub = actions.add_parser(action, help=text, description=text[0].upper() + text[1:] + ".")
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


def registry_of(args: argparse.Namespace):
    """The config's registry, with --model; ``--registry`` names a local folder instead."""
    from components.registry.config import registry_from_config
    from pipeline.config import load_config

    settings = load_config(args.config).registry
    if args.registry:
        settings = settings.model_copy(update={"kind": "local", "root": args.registry})
    if args.model:
        settings = settings.model_copy(update={"model_name": args.model})
    return registry_from_config(settings)


def cmd_registry(args: argparse.Namespace) -> int:
    registry = registry_of(args)
    action, version = args.registry_command, getattr(args, "version", None)
    if args.dry_run:
        printing.json_lines(registry.planned_requests(action, version))
    elif action == "list":
        rows = registry.list_versions()
        if args.json:
            print(json.dumps({"model": registry.describe(), "versions": [row.model_dump() for row in rows]}))
        else:
            printing.registry_versions(f"{registry.model_name} ({registry.describe()})", rows)
    elif action == "show":
        print(json.dumps(registry.show(version), indent=2))
    else:
        champion = registry.promote(version) if action == "promote" else registry.rollback()
        print(f"champion of {registry.describe()} is now version {champion}")
    return 0
