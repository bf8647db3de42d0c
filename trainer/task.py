"""The TFX Trainer entry point (``run_fn``): pretrain SimCLR, then export the encoder.

The training settings arrive as JSON in ``custom_config["training"]``.
Checkpoints are kept under ``custom_config["checkpoint_root"]`` (a folder under the
pipeline root that no run owns), in a folder keyed by the settings that shape the
weights and by ``custom_config["input_digest"]``, the content digest of the input
data (components/training/resumable_trainer.py). A Trainer that was killed and is started
again on the same data and settings (a preempted Vertex worker, a pipeline run
submitted again after a failure) resumes where it stopped, and a change of serving
size alone re-exports the trained weights. Without those two keys (``run_fn``
called on its own) the folder sits beside the Trainer's outputs, keyed by the input
URIs. ``model_run_dir`` receives TensorBoard scalars, the epoch history, the
loss-curve PNG, the final full training checkpoint and ``RESUME_FILE``, which names
the checkpoint folder for RegistryPusher to delete. RegistryPusher leaves
``FINISHED_FILE`` there, naming this ``model_run_dir``, so that a later run with the
same key (a new serving size) restores the final checkpoint instead of training again.
"""

import os

import tensorflow_transform as tft

from shared import stage_keys, uri_io
from trainer import data, train
from trainer.config import TrainingConfig
from trainer.export import export_encoder

TRAINING_CONFIG_KEY = "training"
INPUT_DIGEST_KEY = "input_digest"
INPUT_SETTINGS_KEY = "input_settings"  # the settings that turn the data into examples (stage_keys sections)
CHECKPOINT_ROOT_KEY = "checkpoint_root"
TRAIN_IMAGES_KEY = "train_images"  # the train split's example count, when the caller knows it
TRAIN_SPLIT = "train"
RESUME_FILE = "resume_checkpoints.json"  # {"checkpoint_dir": ...}, in model_run_dir
FINISHED_FILE = "finished.json"  # what RegistryPusher leaves of a checkpoint folder: {"model_run": ...}


def resumable_checkpoint_dir(config: TrainingConfig, fn_args) -> str:
    """<checkpoint_root>/<key of settings + inputs>: the same folder for every execution on the same content."""
    inputs = fn_args.custom_config.get(INPUT_DIGEST_KEY) or [fn_args.transform_output, sorted(fn_args.train_files)]
    key = stage_keys.digest([config.settings_that_shape_weights(), inputs])[:16]
    root = fn_args.custom_config.get(CHECKPOINT_ROOT_KEY) or uri_io.join(
        uri_io.parent(fn_args.model_run_dir, 2), "checkpoints"
    )  # <Trainer>/model_run/<execution id>
    return uri_io.join(root, key)


def run_fn(fn_args) -> None:
    """The Trainer's entry point (TFX ``FnArgs``): pretrains, then exports to ``fn_args.serving_model_dir``.

    Reads the Transform's examples (contract.IMAGE, CHANNEL_MEAN, CHANNEL_STD, LABEL_ID) and
    ``custom_config`` (a TrainingConfig as JSON, the checkpoint root, the train split's image count).
    """
    config = TrainingConfig.model_validate_json(fn_args.custom_config[TRAINING_CONFIG_KEY])
    transform_output = tft.TFTransformOutput(fn_args.transform_output)
    feature_spec = transform_output.transformed_feature_spec()
    inputs = train.TrainingData(
        train_files=data.expand_patterns(fn_args.train_files),
        feature_spec=feature_spec,
        eval_files=data.expand_patterns(fn_args.eval_files) if fn_args.eval_files else None,
        num_train_images=fn_args.custom_config.get(TRAIN_IMAGES_KEY),
    )
    checkpoint_dir = resumable_checkpoint_dir(config, fn_args)
    uri_io.write_json(uri_io.join(fn_args.model_run_dir, RESUME_FILE), {"checkpoint_dir": checkpoint_dir})
    finished = uri_io.join(checkpoint_dir, FINISHED_FILE)
    model = train.pretrain(
        config,
        inputs,
        checkpoint_dir=checkpoint_dir,
        # Its checkpoints were deleted after the push; its final checkpoint is with that run's artifacts.
        finished_run=uri_io.read_json(finished)["model_run"] if uri_io.exists(finished) else None,
        log_dir=fn_args.model_run_dir,
        # Set by Vertex AI when the training job has a TensorBoard instance; scalars then stream to it.
        tensorboard_dir=os.environ.get("AIP_TENSORBOARD_LOG_DIR"),
    )
    model.checkpoint().write(os.path.join(fn_args.model_run_dir, train.FINAL_CHECKPOINT))
    export_encoder(model, fn_args.transform_output, fn_args.serving_model_dir)
