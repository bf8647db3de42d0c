"""Learning-rate schedules: linear warmup then cosine decay, and the seed's plain CosineDecay."""

import math

import tensorflow as tf
import tf_keras as keras


def scaled_learning_rate(base: float, batch_size: int, scaling: str) -> float:
    """The paper's rule: base * batch / 256 (linear) or base * sqrt(batch) (square root)."""
    if scaling == "linear":
        return base * batch_size / 256
    if scaling == "sqrt":
        return base * math.sqrt(batch_size)
    return base


class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    def __init__(self, peak: float, warmup_steps: int, total_steps: int):
        self.peak, self.warmup_steps, self.total_steps = peak, int(warmup_steps), int(total_steps)

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        warmup = self.peak * step / max(self.warmup_steps, 1)
        progress = (step - self.warmup_steps) / max(self.total_steps - self.warmup_steps, 1)
        cosine = 0.5 * self.peak * (1.0 + tf.cos(math.pi * tf.minimum(progress, 1.0)))
        return tf.where(step < self.warmup_steps, warmup, cosine)

    def get_config(self):
        return {"peak": self.peak, "warmup_steps": self.warmup_steps, "total_steps": self.total_steps}
