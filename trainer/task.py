"""The TFX Trainer entry point (``run_fn``): pretrain SimCLR, then export the encoder.

The training settings arrive as JSON in ``custom_config["training"]``. The
checkpoints live in ``model_run_dir/checkpoints`` so that a restarted Trainer
execution resumes them; TensorBoard scalars, the epoch history and the loss
curve PNG are in ``model_run_dir`` too.
"""

import os

import tensorflow_transform as tft

from trainer import data, train
from trainer.config import TrainingConfig
from trainer.export import export_encoder

TRAINING_CONFIG_KEY = "training"
CHECKPOINT_SUBDIR = "checkpoints"


def run_fn(fn_args) -> None:
    config = TrainingConfig.model_validate_json(fn_args.custom_config[TRAINING_CONFIG_KEY])
    transform_output = tft.TFTransformOutput(fn_args.transform_output)
    feature_spec = transform_output.transformed_feature_spec()
    inputs = train.TrainingData(
        train_files=data.expand_patterns(fn_args.train_files),
        feature_spec=feature_spec,
        eval_files=data.expand_patterns(fn_args.eval_files) if fn_args.eval_files else None,
    )
    model = train.pretrain(
        config, inputs,
        checkpoint_dir=os.path.join(fn_args.model_run_dir, CHECKPOINT_SUBDIR),
        log_dir=fn_args.model_run_dir,
    )
    export_encoder(model, fn_args.transform_output, fn_args.serving_model_dir)
