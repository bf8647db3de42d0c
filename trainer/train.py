"""The pretraining loop: resumable, checkpointed every N steps or S seconds, with a progress line per epoch.

Checkpoints are written in the background; each save waits for the one before. A killed
run (SIGKILL, a preempted Vertex or TPU worker) started again with the same checkpoint
directory restores the last complete checkpoint (the model, the optimiser and its step),
skips the input it already consumed within that epoch, and ends at the configured step count.
"""

import dataclasses
import os
import sys
import time
from typing import Dict, List, Optional

import numpy as np
import tensorflow as tf
import tf_keras as keras

from shared import contract, plots, uri_io
from trainer import data, distribute, knn
from trainer.config import TrainingConfig
from trainer.model import SimCLR

FINAL_CHECKPOINT = "final_checkpoint/ckpt"  # in log_dir: the whole training state at its last step


@dataclasses.dataclass(frozen=True)
class TrainingData:
    train_files: List[str]
    feature_spec: Dict
    eval_files: Optional[List[str]] = None  # labelled queries of the kNN monitor
    num_train_images: Optional[int] = None  # known from ingestion; counted by reading train_files when None


def plan_steps(config: TrainingConfig, num_images: int, num_replicas: int):
    """(steps per epoch, total steps); refuses batches that cannot be split or filled."""
    if config.batch_size % num_replicas:
        raise ValueError(
            f"training.batch_size {config.batch_size} cannot be split across {num_replicas} replicas: "
            f"use a multiple of {num_replicas}"
        )
    steps_per_epoch = num_images // config.batch_size
    if steps_per_epoch == 0:
        raise ValueError(f"training.batch_size {config.batch_size} is larger than the {num_images} training images")
    total = config.epochs * steps_per_epoch
    return steps_per_epoch, min(total, config.max_steps) if config.max_steps else total


def uses_bf16(config: TrainingConfig, strategy) -> bool:
    """``training.bf16``; auto: on a TPU, and on a CPU-only machine whose CPU has native bfloat16 (AVX-512 BF16 or
    AMX: 1.43x the float32 img/s in bench/train_throughput.py, the same held-out probe in bench/levers.py)."""
    if config.bf16 != "auto":
        return config.bf16 == "on"
    if distribute.is_tpu(strategy):
        return True
    return not tf.config.list_logical_devices("GPU") and distribute.cpu_has_native_bf16()


def configure_precision(config: TrainingConfig, strategy) -> None:
    keras.mixed_precision.set_global_policy("mixed_bfloat16" if uses_bf16(config, strategy) else "float32")


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def pretrain(
    config: TrainingConfig,
    inputs: TrainingData,
    checkpoint_dir: str,
    log_dir: str,
    strategy: Optional[tf.distribute.Strategy] = None,
    tensorboard_dir: Optional[str] = None,
    finished_run: Optional[str] = None,
) -> SimCLR:
    """Trains (or resumes) to the configured step count; returns the trained model.

    TensorBoard scalars go to ``tensorboard_dir`` (default ``log_dir``); the history and loss curve to ``log_dir``.
    ``finished_run`` is the ``log_dir`` of a finished training of the same key whose checkpoints were
    deleted: with no checkpoint in ``checkpoint_dir``, training restores its final checkpoint.
    """
    strategy = strategy or distribute.select_strategy()
    previous = keras.mixed_precision.global_policy()
    configure_precision(config, strategy)
    try:  # the steps after it in this process (LocalDagRunner's FineTuner, say) build float32 models
        return _train(config, inputs, checkpoint_dir, log_dir, strategy, tensorboard_dir or log_dir, finished_run)
    finally:
        keras.mixed_precision.set_global_policy(previous)


def _train(config, inputs, checkpoint_dir, log_dir, strategy, tensorboard_dir, finished_run) -> SimCLR:
    """pretrain's loop, under the precision it set."""
    keras.utils.set_random_seed(config.random_state)  # the same initial weights on every run of a config
    mean, std = data.channel_statistics(inputs.train_files, inputs.feature_spec)
    num_images = inputs.num_train_images or data.count_records(inputs.train_files)
    steps_per_epoch, total_steps = plan_steps(config, num_images, strategy.num_replicas_in_sync)
    model = SimCLR.create(config, strategy, mean, std, steps_per_epoch, total_steps)
    saver = _Checkpoints(model, checkpoint_dir, config)
    saver.restore(finished_run)
    history = saver.history
    iterator = _input_iterator(config, inputs, strategy, num_images, steps_per_epoch, total_steps, saver.step)
    writer = tf.summary.create_file_writer(tensorboard_dir)
    started, start_step = time.monotonic(), saver.step
    while saver.step < total_steps:
        record = _train_epoch(model, iterator, saver, config, steps_per_epoch, total_steps)
        if config.knn_every_epochs and inputs.eval_files and record["epoch"] % config.knn_every_epochs == 0:
            record["knn_top1"] = knn_monitor(model, inputs, config)
        history.append(record)
        with writer.as_default(step=saver.step):
            for name, value in record.items():
                if name not in ("epoch", "step"):
                    tf.summary.scalar(name, value)
        rate = (saver.step - start_step) / (time.monotonic() - started)
        _log_epoch(
            record, -(-total_steps // steps_per_epoch), total_steps, (total_steps - saver.step) / max(rate, 1e-9)
        )
    saver.save()
    saver.checkpoint.sync()  # the last checkpoint is on storage before the run goes on
    writer.flush()
    if history:
        plots.loss_curve(history, os.path.join(log_dir, contract.LOSS_CURVE_FILE))
        uri_io.write_json(os.path.join(log_dir, contract.HISTORY_FILE), history, indent=1)
    return model


class _Checkpoints:
    """The training state in ``checkpoint_dir``: restored at the start, saved every N steps or S seconds.

    ``step`` counts the steps trained and ``history`` the finished epochs. A save writes the checkpoint
    in a background thread while training goes on; once it is written, the history up to its step goes
    beside it, then the manager names it the latest checkpoint."""

    def __init__(self, model: SimCLR, checkpoint_dir: str, config: TrainingConfig):
        self.model, self.config = model, config
        self.checkpoint = model.checkpoint()
        self.manager = tf.train.CheckpointManager(self.checkpoint, checkpoint_dir, max_to_keep=2)
        self.history_path = os.path.join(checkpoint_dir, contract.HISTORY_FILE)
        self.history: List[Dict] = []
        self.step = 0
        self.last_save = time.monotonic()

    def restore(self, finished_run: Optional[str]) -> None:
        """Restores the latest checkpoint, else a finished run's final one, and the history up to its step."""
        if self.manager.latest_checkpoint:
            self.checkpoint.restore(self.manager.latest_checkpoint).assert_existing_objects_matched()
            if tf.io.gfile.exists(self.history_path):
                restored = int(self.model.optimizer.iterations)  # a kill between history and state leaves later epochs
                self.history = [r for r in uri_io.read_json(self.history_path) if r["step"] <= restored]
            _log(f"resumed from {self.manager.latest_checkpoint} at step {int(self.model.optimizer.iterations)}")
        elif finished_run:
            final = os.path.join(finished_run, FINAL_CHECKPOINT)
            self.checkpoint.read(final).assert_existing_objects_matched()
            self.history = uri_io.read_json(os.path.join(finished_run, contract.HISTORY_FILE))
            _log(f"resumed from {final} at step {int(self.model.optimizer.iterations)}")
        self.step = int(self.model.optimizer.iterations)

    def due(self) -> bool:
        return (
            self.step % self.config.checkpoint_every_steps == 0
            or time.monotonic() - self.last_save >= self.config.checkpoint_every_seconds
        )

    def save(self) -> None:
        settled = list(self.history)
        options = tf.train.CheckpointOptions(
            enable_async=True,
            experimental_write_callbacks=[lambda: uri_io.write_json(self.history_path, settled, indent=None)],
        )
        self.manager.save(checkpoint_number=self.step, options=options)
        self.last_save = time.monotonic()


def _input_iterator(config, inputs: TrainingData, strategy, num_images: int, steps_per_epoch, total_steps, step: int):
    """The distributed training input from ``step`` on: each host builds its own from its share of the files,
    batched per replica; decoded images are cached in memory when they fit ``cache_budget_mb``."""
    decoded_mb = num_images * data.decoded_bytes_per_image(inputs.train_files, inputs.feature_spec) / 2**20
    cache = decoded_mb <= config.cache_budget_mb
    _log(
        f"pretraining: {num_images} images, {strategy.num_replicas_in_sync} replica(s), global batch "
        f"{config.batch_size}, {steps_per_epoch} steps/epoch, {total_steps} steps; decoded images "
        f"{decoded_mb:.0f} MB: {'cached in memory' if cache else 'streamed from'} "
        f"{len(inputs.train_files)} files (cache_budget_mb {config.cache_budget_mb})"
    )
    return iter(
        strategy.distribute_datasets_from_function(
            lambda context: data.pretraining_dataset(
                inputs.train_files,
                inputs.feature_spec,
                config,
                num_images,
                start_step=step,
                cache=cache,
                input_context=context,
            )
        )
    )


def _train_epoch(model: SimCLR, iterator, saver: _Checkpoints, config, steps_per_epoch: int, total_steps: int) -> Dict:
    """Trains to the end of the current epoch (or the last step), saving when due; returns the epoch's record."""
    epoch = saver.step // steps_per_epoch + 1
    epoch_end = min(epoch * steps_per_epoch, total_steps)
    epoch_started, losses, accuracies = time.monotonic(), [], []
    while saver.step < epoch_end:
        loss, accuracy = model.train_step(iterator)
        losses.append(float(loss))
        accuracies.append(float(accuracy))
        saver.step += 1
        if saver.step < total_steps and saver.due():
            saver.save()
    elapsed = time.monotonic() - epoch_started
    return {
        "epoch": epoch,
        "step": saver.step,
        "loss": float(np.mean(losses)),
        "contrastive_accuracy": float(np.mean(accuracies)),
        "learning_rate": model.learning_rate(),
        "images_per_s": 2 * config.batch_size * len(losses) / elapsed,
    }


def _log_epoch(record: Dict, epochs: int, total_steps: int, eta_seconds: float) -> None:
    knn_text = f" knn {record['knn_top1']:.3f}" if "knn_top1" in record else ""
    _log(
        f"epoch {record['epoch']}/{epochs} step {record['step']}/{total_steps} loss {record['loss']:.4f} "
        f"contrastive-acc {record['contrastive_accuracy']:.3f} lr {record['learning_rate']:.4g} "
        f"{record['images_per_s']:.0f} img/s{knn_text} ETA {eta_seconds:.0f}s"
    )


def knn_monitor(model: SimCLR, inputs: TrainingData, config: TrainingConfig) -> float:
    """kNN top-1 of the first ``knn_monitor_images`` eval images against as many train images.

    The samples are bounded whatever the dataset's size, and embedded by every replica of the strategy.
    """
    if not inputs.eval_files:
        raise ValueError("the kNN monitor needs labelled eval files")
    size = config.encoder.serving_size  # as the exported encoder will see them
    bank, bank_labels = embed_sample(
        model, inputs.train_files, inputs.feature_spec, size, config.knn_monitor_images, labelled_only=True
    )
    queries, query_labels = embed_sample(model, inputs.eval_files, inputs.feature_spec, size, config.knn_monitor_images)
    return knn.knn_accuracy(bank, bank_labels, queries, query_labels, k=20)


def embed_sample(model: SimCLR, files: List[str], feature_spec, size: int, limit: int, labelled_only: bool = False):
    """(features [n, d] float32, label ids [n]) of the first ``limit`` images of ``files`` (of the labelled
    ones: ``labelled_only``), n <= limit."""
    strategy = model.strategy
    dataset = data.evaluation_dataset(
        files, feature_spec, size, limit=limit, drop_remainder=distribute.is_tpu(strategy), labelled_only=labelled_only
    )

    features, labels = [], []
    for batch in strategy.experimental_distribute_dataset(dataset):
        replica_results = strategy.run(model.replica_features, args=batch)
        features += [f.numpy() for f in strategy.experimental_local_results(replica_results[0])]
        labels += [lab.numpy() for lab in strategy.experimental_local_results(replica_results[1])]
    return np.concatenate(features), np.concatenate(labels)
