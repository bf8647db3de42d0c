"""SimCLR v2 self-distillation: a student learns a fine-tuned teacher's class probabilities on unlabelled images.

SimCLR v2 (Chen et al. 2020b, arXiv 2006.10029, section 2, eq. 3) minimises, over images x whose labels
are not used, -Σ_y P_T(y | x; τ) log P_S(y | x; τ), where P = softmax(logits / τ) of the teacher (the
fine-tuned classifier, fixed) and the student. Self-distillation gives the student the teacher's
architecture. Both see the same random crop and flip of an image (``DistillConfig``: views as in
fine-tuning); the student is then scored and served as the teacher would be.
"""

import tensorflow as tf
import tf_keras as keras

from trainer import supervised
from trainer.config import FinetuneConfig, TrainingConfig
from trainer.finetune import build_classifier, finetuning_config


class Distiller(keras.Model):
    """Trains ``student`` towards ``teacher``'s probabilities at ``temperature`` on batches of views [n, s, s, 3]."""

    def __init__(self, student: keras.Model, teacher: keras.Model, temperature: float):
        super().__init__()
        self.student, self.teacher, self.temperature = student, teacher, temperature
        self.teacher.trainable = False

    def call(self, views, training=False):
        return self.student(views, training=training)

    def train_step(self, batch):
        views = batch[0] if isinstance(batch, tuple) else batch
        targets = tf.nn.softmax(tf.cast(self.teacher(views, training=False), tf.float32) / self.temperature)
        with tf.GradientTape() as tape:
            logits = tf.cast(self.student(views, training=True), tf.float32) / self.temperature
            loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(targets, logits))
        variables = self.student.trainable_variables
        self.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        agreement = tf.reduce_mean(tf.cast(tf.equal(tf.argmax(logits, 1), tf.argmax(targets, 1)), tf.float32))
        return {"loss": loss, "agreement": agreement}


def distill(
    training: TrainingConfig,
    settings: FinetuneConfig,
    teacher: keras.Model,
    checkpoint: str,
    channel_stats,
    images: tf.data.Dataset,
    count: int,
    random_state: int,
) -> Distiller:
    """The Distiller whose ``student`` (the pretrained classifier of ``checkpoint``) was distilled from ``teacher``
    on ``count`` (stored PNG bytes, any label) pairs, the labels never read; its optimizer counts the steps."""
    distillation = settings.distill
    if distillation is None:
        raise ValueError("finetune.distill is not set")
    keras.utils.set_random_seed(random_state)
    num_classes = int(teacher.output_shape[-1])
    student = build_classifier(training, channel_stats, num_classes, settings.head_layers, checkpoint)
    config = finetuning_config(training, settings)
    distiller = Distiller(student, teacher, distillation.temperature)
    run = (count, distillation.steps_for(count, settings.batch_size), random_state)
    return supervised.fit_on_views(
        distiller, student.trainable_variables, config, images, run, f"distillation: {count} images"
    )
