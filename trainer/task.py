"""The TFX Trainer entry point (``run_fn``): pretrain SimCLR, then export the encoder.

The training settings arrive as JSON in ``custom_config["training"]``.
Checkpoints are kept beside the Trainer's outputs, under a key made of the
settings that shape the weights and the input data, so a Trainer execution that
was killed and is started again on the same inputs (a re-run, a preempted Vertex
worker) resumes where it stopped, and a change of serving size alone re-exports
the trained weights. The input data is named by ``custom_config["input_digest"]``
when the pipeline knows it before the run (local runs: the data's fingerprint and
the ingestion settings), else by the input URIs. ``model_run_dir`` receives
TensorBoard scalars, the epoch history, the loss-curve PNG and the final full
training checkpoint.
"""

import hashlib
import json
import os

import tensorflow_transform as tft

from trainer import data, train, uri_io
from trainer.config import TrainingConfig
from trainer.export import export_encoder

TRAINING_CONFIG_KEY = "training"
INPUT_DIGEST_KEY = "input_digest"
FINAL_CHECKPOINT = "final_checkpoint/ckpt"


def resumable_checkpoint_dir(config: TrainingConfig, fn_args) -> str:
    """<pipeline_root>/<Trainer>/checkpoints/<key of settings + inputs>: stable across executions."""
    inputs = fn_args.custom_config.get(INPUT_DIGEST_KEY) or [fn_args.transform_output, sorted(fn_args.train_files)]
    key = hashlib.sha256(
        json.dumps([config.settings_that_shape_weights(), inputs], sort_keys=True).encode()
    ).hexdigest()[:16]
    component_dir = uri_io.parent(fn_args.model_run_dir, 2)  # <Trainer>/model_run/<execution id>
    return uri_io.join(component_dir, "checkpoints", key)


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
        checkpoint_dir=resumable_checkpoint_dir(config, fn_args),
        log_dir=fn_args.model_run_dir,
        # Set by Vertex AI when the training job has a TensorBoard instance; scalars then stream to it.
        tensorboard_dir=os.environ.get("AIP_TENSORBOARD_LOG_DIR"),
    )
    model.checkpoint().write(os.path.join(fn_args.model_run_dir, FINAL_CHECKPOINT))
    export_encoder(model, fn_args.transform_output, fn_args.serving_model_dir)
