"""Resumable training: a pretraining that stops (a preempted TPU, a quota error, a bug fixed in the
next image) resumes when the pipeline runs again on the same data and settings.

This module owns what that takes:

* the **key**: the settings that shape the weights plus the inputs by content (the transform
  stage's key, ``contract.INPUT_DIGEST_KEY``, which ``components/training/resumable_trainer.py``
  adds to the Trainer's ``custom_config``); without it (``run_fn`` called on its own), the inputs' URIs;
* the **root**: ``contract.CHECKPOINT_ROOT_KEY``, a folder under the pipeline root that no run owns
  (``CHECKPOINTS_DIR``); without it, ``<Trainer>/checkpoints`` beside the Trainer's outputs;
* the **markers**: ``RESUME_FILE`` in the run's ``model_run`` names its checkpoint folder;
  ``FINISHED_FILE`` in that folder names the ``model_run`` whose final checkpoint a later run with
  the same key (a new serving size) restores instead of training again;
* the **clean-up**: once a model is pushed or refused, RegistryPusher calls ``delete_checkpoints``.
"""

from typing import Optional

from shared import contract, stage_keys, uri_io

CHECKPOINTS_DIR = "trainer_checkpoints"  # under the pipeline root: <key>/ckpt-* of unfinished trainings
RESUME_FILE = "resume_checkpoints.json"  # in model_run: {"checkpoint_dir": ...}
FINISHED_FILE = "finished.json"  # what the clean-up leaves of a checkpoint folder: {"model_run": ...}


def checkpoint_root(pipeline_root: str) -> str:
    return uri_io.join(pipeline_root, CHECKPOINTS_DIR)


def checkpoint_dir(settings_that_shape_weights, fn_args) -> str:
    """<root>/<key>: the same folder for every execution on the same content and settings (TFX ``FnArgs``)."""
    inputs = fn_args.custom_config.get(contract.INPUT_DIGEST_KEY) or [
        fn_args.transform_output,
        sorted(fn_args.train_files),
    ]
    key = stage_keys.digest([settings_that_shape_weights, inputs])[:16]
    root = fn_args.custom_config.get(contract.CHECKPOINT_ROOT_KEY) or uri_io.join(
        uri_io.parent(fn_args.model_run_dir, 2), "checkpoints"
    )  # <Trainer>/model_run/<execution id>
    return uri_io.join(root, key)


def start(model_run_dir: str, checkpoints: str) -> Optional[str]:
    """Records the run's checkpoint folder for the clean-up; returns the ``model_run`` of a finished
    training of the same key (its final checkpoint is with that run's artifacts), or None."""
    uri_io.write_json(uri_io.join(model_run_dir, RESUME_FILE), {"checkpoint_dir": checkpoints})
    finished = uri_io.join(checkpoints, FINISHED_FILE)
    return uri_io.read_json(finished)["model_run"] if uri_io.exists(finished) else None


def delete_checkpoints(model_run_uri: str) -> Optional[str]:
    """The model is pushed or refused: its resumable checkpoints go; returns the folder deleted, if any.

    A pointer to the run's final checkpoint (kept with its other artifacts) stays, so that a run with
    the same key restores it instead of training."""
    resume_file = uri_io.join(model_run_uri, RESUME_FILE)
    if not uri_io.exists(resume_file):
        return None
    checkpoints = uri_io.read_json(resume_file)["checkpoint_dir"]
    deleted = uri_io.exists(checkpoints)
    if deleted:
        uri_io.remove_tree(checkpoints)
    uri_io.write_json(uri_io.join(checkpoints, FINISHED_FILE), {"model_run": model_run_uri})
    return checkpoints if deleted else None
