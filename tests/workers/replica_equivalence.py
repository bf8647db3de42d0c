"""Runs in its own process (logical devices must be set before TensorFlow starts).

Prints one JSON line comparing a 2-replica MirroredStrategy step with a
single-device step on the same global batch. Arguments: ``sync`` or ``nosync``
(batch norm), then optionally ``multicrop`` (two small views per image as well).
"""

import json
import sys

from trainer import runtime  # noqa: E402

runtime.configure()
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from trainer.config import TrainingConfig  # noqa: E402
from trainer.model import SimCLR  # noqa: E402

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

sync_bn = sys.argv[1] == "sync"
local_views = 2 if "multicrop" in sys.argv[2:] else 0  # and two small views of each image
config = TrainingConfig.model_validate(
    {
        "encoder": {"depth": 10, "width_multiplier": 0.125, "image_size": 16, "stem": "small"},
        "head": {"widths": [16, 8]},
        "batch_size": 8,
        "sync_batch_norm": sync_bn,
        "temperature": 0.2,
        "optimizer": {"name": "lars", "warmup_epochs": 0},
        "augment": {"local_views": local_views, "local_view_size": 8},
    }
)
rng = np.random.default_rng(0)
views = tuple(tf.constant(rng.uniform(size=(8, 16, 16, 3)), tf.float32) for _ in range(2))
if local_views:
    views += (tf.constant(rng.uniform(size=(8, local_views, 8, 8, 3)), tf.float32),)
mean, std = [0.5] * 3, [0.25] * 3

single = SimCLR.create(config, tf.distribute.get_strategy(), mean, std, steps_per_epoch=10, total_steps=10)
mirrored_strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
mirrored = SimCLR.create(config, mirrored_strategy, mean, std, steps_per_epoch=10, total_steps=10)
for source, target in ((single.encoder, mirrored.encoder), (single.head, mirrored.head)):
    target.set_weights(source.get_weights())

loss_1, accuracy_1, gradients_1 = single.replica_loss_and_gradients(*views)


def dataset():
    return mirrored_strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensor_slices(views).batch(8))


@tf.function
def mirrored_gradients(batch):
    loss, accuracy, gradients = mirrored_strategy.run(mirrored.replica_loss_and_gradients, args=batch)
    reduce = mirrored_strategy.reduce
    return (
        reduce("MEAN", loss, axis=None),
        reduce("MEAN", accuracy, axis=None),
        [reduce("SUM", g, axis=None) for g in gradients],
    )


loss_2, accuracy_2, gradients_2 = mirrored_gradients(next(iter(dataset())))
gradient_error = max(
    float(tf.reduce_max(tf.abs(a - b)) / (tf.reduce_max(tf.abs(a)) + 1e-12)) for a, b in zip(gradients_1, gradients_2)
)

single.train_step(iter(tf.data.Dataset.from_tensors(views)))
mirrored.train_step(iter(dataset()))
weight_error = max(
    float(np.max(np.abs(a - b)))
    for a, b in zip(
        single.encoder.get_weights() + single.head.get_weights(),
        mirrored.encoder.get_weights() + mirrored.head.get_weights(),
    )
)
print(
    json.dumps(
        {
            "replicas": mirrored_strategy.num_replicas_in_sync,
            "loss_single": float(loss_1),
            "loss_mirrored": float(loss_2),
            "accuracy_single": float(accuracy_1),
            "accuracy_mirrored": float(accuracy_2),
            "max_relative_gradient_error": gradient_error,
            "max_weight_error_after_step": weight_error,
        }
    )
)
