"""The SimCLR model (normalising encoder + projection head), its optimiser and its training step."""

import dataclasses
from typing import Tuple

import numpy as np
import tensorflow as tf
import tf_keras as keras
from tf_keras import layers

from trainer import objective, schedules
from trainer.config import TrainingConfig
from trainer.heads import build_projection_head
from trainer.lars import LARS
from trainer.resnet import build_resnet


def build_encoder(config: TrainingConfig, channel_mean, channel_std) -> keras.Model:
    """Images in [0, 1] -> pooled features; the Transform's channel statistics normalise the input."""
    inputs = keras.Input((None, None, 3), name="image")  # trains at image_size, serves at serving_size
    normalized = layers.Normalization(
        mean=np.asarray(channel_mean, np.float32),
        variance=np.square(np.asarray(channel_std, np.float32)),
        name="normalize",
    )(inputs)
    backbone = build_resnet(
        config.encoder.depth,
        config.encoder.width_multiplier,
        config.encoder.image_size,
        config.encoder.stem,
        config.sync_batch_norm,
    )
    features = layers.Activation("linear", dtype="float32", name="features")(backbone(normalized))
    return keras.Model(inputs, features, name="encoder")


def build_optimizer(config: TrainingConfig, steps_per_epoch: int, total_steps: int, variables):
    """The configured optimiser and schedule, built for ``variables``; norms and biases are not decayed."""
    optimizer = _optimizer(config, steps_per_epoch, total_steps)
    if config.optimizer.name != "lars":  # LARS already skips BN parameters and biases
        optimizer.exclude_from_weight_decay(var_list=[v for v in variables if len(v.shape) <= 1])
    optimizer.build(variables)
    return optimizer


def _optimizer(config: TrainingConfig, steps_per_epoch: int, total_steps: int):
    opt = config.optimizer
    if opt.schedule == "cosine_steps":
        learning_rate = keras.optimizers.schedules.CosineDecay(opt.base_learning_rate, opt.cosine_decay_steps)
    else:
        peak = schedules.scaled_learning_rate(opt.base_learning_rate, config.batch_size, opt.lr_scaling)
        learning_rate = schedules.WarmupCosine(peak, round(opt.warmup_epochs * steps_per_epoch), total_steps)
    if opt.name == "lars":
        return LARS(learning_rate, momentum=opt.momentum, weight_decay=opt.weight_decay)
    if opt.name == "sgd":
        return keras.optimizers.SGD(learning_rate, momentum=opt.momentum, weight_decay=opt.weight_decay or None)
    return keras.optimizers.AdamW(learning_rate, weight_decay=opt.weight_decay)


def build_encoder_and_head(config: TrainingConfig, channel_mean, channel_std) -> Tuple[keras.Model, keras.Model]:
    """The encoder f and projection head g of ``config``, under the current precision policy and strategy."""
    encoder = build_encoder(config, channel_mean, channel_std)
    head = build_projection_head(
        encoder.output_shape[-1], config.head.widths, config.head.batch_norm, config.sync_batch_norm
    )
    return encoder, head


@dataclasses.dataclass(eq=False)
class SimCLR:
    """Encoder, head and optimiser created in a strategy's scope, with one global-batch training step."""

    config: TrainingConfig
    strategy: tf.distribute.Strategy
    encoder: keras.Model
    head: keras.Model
    optimizer: keras.optimizers.Optimizer

    @classmethod
    def create(cls, config, strategy, channel_mean, channel_std, steps_per_epoch: int, total_steps: int) -> "SimCLR":
        with strategy.scope():
            encoder, head = build_encoder_and_head(config, channel_mean, channel_std)
            variables = encoder.trainable_variables + head.trainable_variables
            optimizer = build_optimizer(config, steps_per_epoch, total_steps, variables)
        return cls(config, strategy, encoder, head, optimizer)

    @property
    def trainable_variables(self):
        return self.encoder.trainable_variables + self.head.trainable_variables

    def checkpoint(self) -> tf.train.Checkpoint:
        return tf.train.Checkpoint(encoder=self.encoder, head=self.head, optimizer=self.optimizer)

    def replica_loss_and_gradients(self, view1, view2, local_views=None):
        """On one replica: its loss and accuracy, and gradients scaled so that their sum is the global one.

        ``local_views`` ([n, k, l, l, 3]) are multi-crop's small views, encoded in a pass of their own size.
        """
        with tf.GradientTape() as tape:
            features = [self.encoder(tf.concat([view1, view2], 0), training=True)]
            if local_views is not None:
                shape = tf.shape(local_views)
                view_major = tf.transpose(local_views, [1, 0, 2, 3, 4])
                features.append(self.encoder(tf.reshape(view_major, [-1, shape[2], shape[3], 3]), training=True))
            projections = self.head(tf.concat(features, 0), training=True)
            views = tf.split(projections, 2 + self.config.augment.local_views, axis=0)
            loss, accuracy = objective.nt_xent(
                views,
                self.config.temperature,
                decoupled=self.config.loss == "decoupled",
                debiased_prior=self.config.positive_prior if self.config.loss == "debiased" else 0.0,
            )
            scaled = loss / self.strategy.num_replicas_in_sync
        return loss, accuracy, tape.gradient(scaled, self.trainable_variables)

    def _replica_step(self, views):
        loss, accuracy, gradients = self.replica_loss_and_gradients(*views)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_variables))
        return loss, accuracy

    @tf.function
    def train_step(self, iterator):
        loss, accuracy = self.strategy.run(self._replica_step, args=(next(iterator),))
        mean = tf.distribute.ReduceOp.MEAN
        return self.strategy.reduce(mean, loss, axis=None), self.strategy.reduce(mean, accuracy, axis=None)

    @tf.function(reduce_retracing=True)
    def replica_features(self, images, labels):
        """On one replica: (encoder features [n, d] float32, labels [n]) of images [n, s, s, 3].

        One function per model, so the kNN monitor's calls share its traces: one for the first batch shape,
        then one for any batch size (``reduce_retracing``).
        """
        return tf.cast(self.encoder(images, training=False), tf.float32), labels

    def learning_rate(self) -> float:
        return float(self.optimizer.learning_rate)
