"""Runs the TFX Trainer's run_fn on a given Transform output, as the Trainer executor would.

python train_until_killed.py TRANSFORM_GRAPH TRANSFORMED_EXAMPLES OUTPUT_DIR TRAINING_JSON
"""

import os
import sys

from trainer import runtime  # noqa: E402

runtime.configure()
from tfx.components.trainer.fn_args_utils import FnArgs  # noqa: E402

from shared.contract import TRAINING_CONFIG_KEY  # noqa: E402
from trainer.task import run_fn  # noqa: E402

transform_graph, examples, output, training = sys.argv[1:5]
run_fn(
    FnArgs(
        train_files=[os.path.join(examples, "Split-train", "*")],
        eval_files=[os.path.join(examples, "Split-test", "*")],
        transform_output=transform_graph,
        serving_model_dir=os.path.join(output, "Trainer", "model", "1", "Format-Serving"),
        model_run_dir=os.path.join(output, "Trainer", "model_run", "1"),
        custom_config={TRAINING_CONFIG_KEY: training},
    )
)
