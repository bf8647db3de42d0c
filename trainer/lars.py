"""LARS: SGD with momentum and a per-layer trust ratio (You et al. 2017), as SimCLR uses it.

Weight decay is added to the gradient, and both the decay and the trust-ratio
adaptation skip batch-norm parameters and biases (every variable of rank 1).
"""

import tensorflow as tf
import tf_keras as keras


class LARS(keras.optimizers.Optimizer):
    def __init__(self, learning_rate=0.1, momentum=0.9, weight_decay=0.0, eeta=0.001, name="LARS", **kwargs):
        super().__init__(name=name, **kwargs)
        self._learning_rate = self._build_learning_rate(learning_rate)
        self.momentum = momentum
        self.lars_weight_decay = weight_decay
        self.eeta = eeta

    def build(self, var_list):
        super().build(var_list)
        if getattr(self, "_built", False):
            return
        self._built = True
        self.momentums = [self.add_variable_from_reference(v, "m") for v in var_list]

    @staticmethod
    def is_adapted(variable) -> bool:
        """Kernels get weight decay and the trust ratio; BN parameters and biases (rank 1) do not."""
        return len(variable.shape) > 1

    def update_step(self, gradient, variable):
        learning_rate = tf.cast(self.learning_rate, variable.dtype)
        momentum = self.momentums[self._index_dict[self._var_key(variable)]]
        if self.is_adapted(variable):
            gradient = gradient + self.lars_weight_decay * variable
            weight_norm = tf.norm(variable)
            gradient_norm = tf.norm(gradient)
            trust_ratio = tf.where(
                weight_norm > 0, tf.where(gradient_norm > 0, self.eeta * weight_norm / gradient_norm, 1.0), 1.0
            )
            learning_rate = learning_rate * trust_ratio
        momentum.assign(self.momentum * momentum + learning_rate * gradient)
        variable.assign_sub(momentum)

    def get_config(self):
        config = super().get_config()
        config.update(
            learning_rate=self._serialize_hyperparameter(self._learning_rate),
            momentum=self.momentum,
            weight_decay=self.lars_weight_decay,
            eeta=self.eeta,
        )
        return config
