"""The TFX Trainer entry point (``run_fn``): pretrain SimCLR, then export the encoder.

The training settings arrive as JSON in ``custom_config[contract.TRAINING_CONFIG_KEY]``.
Checkpoints go where ``trainer/resumable.py`` says (keyed by the settings that shape the
weights and the inputs by content), so a Trainer that was killed and is started again on
the same data and settings (a preempted Vertex worker, a pipeline run submitted again after
a failure) resumes where it stopped, and a change of serving size alone re-exports the
trained weights. ``model_run_dir`` receives TensorBoard scalars, the epoch history, the
loss-curve PNG, the final full training checkpoint and the resumable-training marker.
"""

import os

import tensorflow_transform as tft

from shared import contract
from trainer import data, resumable, train
from trainer.config import TrainingConfig
from trainer.export import export_encoder


def run_fn(fn_args) -> None:
    """The Trainer's entry point (TFX ``FnArgs``): pretrains, then exports to ``fn_args.serving_model_dir``.

    Reads the Transform's examples (contract.IMAGE, CHANNEL_MEAN, CHANNEL_STD, LABEL_ID) and
    ``custom_config`` (a TrainingConfig as JSON, the checkpoint root, the train split's image count).
    """
    config = TrainingConfig.model_validate_json(fn_args.custom_config[contract.TRAINING_CONFIG_KEY])
    transform_output = tft.TFTransformOutput(fn_args.transform_output)
    feature_spec = transform_output.transformed_feature_spec()
    inputs = train.TrainingData(
        train_files=data.expand_patterns(fn_args.train_files),
        feature_spec=feature_spec,
        eval_files=data.expand_patterns(fn_args.eval_files) if fn_args.eval_files else None,
        num_train_images=fn_args.custom_config.get(contract.TRAIN_IMAGES_KEY),
    )
    checkpoint_dir = resumable.checkpoint_dir(config.settings_that_shape_weights(), fn_args)
    model = train.pretrain(
        config,
        inputs,
        checkpoint_dir=checkpoint_dir,
        finished_run=resumable.start(fn_args.model_run_dir, checkpoint_dir),
        log_dir=fn_args.model_run_dir,
        # Set by Vertex AI when the training job has a TensorBoard instance; scalars then stream to it.
        tensorboard_dir=os.environ.get("AIP_TENSORBOARD_LOG_DIR"),
    )
    model.checkpoint().write(os.path.join(fn_args.model_run_dir, train.FINAL_CHECKPOINT))
    export_encoder(model, fn_args.transform_output, fn_args.serving_model_dir)
