"""The ``simclr-tfx`` command line: run the pipeline locally, or compile, submit and schedule it on Vertex AI.

Each command group lives in ``pipeline/commands/``; this module assembles them and runs one.
Heavy imports (TensorFlow, TFX) happen inside the commands, so ``--help`` is instant.
User mistakes end with one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from typing import List, Optional

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


def build_parser() -> argparse.ArgumentParser:
    from pipeline.commands import embed, local, offline, predict, registry, schema, vertex

    parser = argparse.ArgumentParser(prog="simclr-tfx", description=__doc__.splitlines()[0])
    parser.add_argument("--verbose", action="store_true", help="show TFX, Beam and TensorFlow logs")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in (local, registry, embed, predict, schema, vertex, offline):
        group.add_commands(commands)
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
