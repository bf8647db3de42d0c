"""Two-host input sharding, run as separate processes (each TensorFlow process is one host).

  write DIR                 writes 4 TFRecord files of 3 stored images each into DIR
  worker INDEX PORTS DIR    one of two MultiWorkerMirroredStrategy workers (PORTS: "p0,p1"):
                            takes one training step on its own files through
                            distribute_datasets_from_function, as trainer/train.py builds its input
  single DIR                one process, one device: the same step on both hosts' first batches

Each prints one JSON line. The views are deterministic (centre crop, and its mirror image)
so that the step's loss can be compared across the two set-ups.
"""

import glob
import hashlib
import json
import os
import sys

from trainer import runtime

MODE = sys.argv[1]
if MODE == "worker":
    INDEX, PORTS = int(sys.argv[2]), sys.argv[3].split(",")
    os.environ["TF_CONFIG"] = json.dumps(
        {"cluster": {"worker": [f"localhost:{port}" for port in PORTS]}, "task": {"type": "worker", "index": INDEX}}
    )
runtime.configure()
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

from shared import contract  # noqa: E402
from trainer import augment, data  # noqa: E402
from trainer.config import TrainingConfig  # noqa: E402
from trainer.model import SimCLR  # noqa: E402

FEATURE_SPEC = {
    contract.IMAGE: tf.io.FixedLenFeature([1], tf.string),
    contract.CHANNEL_MEAN: tf.io.FixedLenFeature([3], tf.float32),
    contract.CHANNEL_STD: tf.io.FixedLenFeature([3], tf.float32),
}
CONFIG = TrainingConfig.model_validate(
    {
        "encoder": {"depth": 10, "width_multiplier": 0.125, "image_size": 16, "stem": "small"},
        "head": {"widths": [16, 8]},
        "batch_size": 4,
        "epochs": 2,
        "sync_batch_norm": True,
        "optimizer": {"name": "lars", "warmup_epochs": 0},
    }
)
IMAGES = 12
keras.utils.set_random_seed(0)  # as the trainer does first: tf.data's shuffle orders depend on the global seed


def write(folder: str) -> None:
    rng = np.random.default_rng(0)
    for part in range(4):
        with tf.io.TFRecordWriter(os.path.join(folder, f"part-{part}.gz"), options="GZIP") as writer:
            for _ in range(IMAGES // 4):
                png = tf.io.encode_png(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).numpy()
                writer.write(
                    tf.train.Example(
                        features=tf.train.Features(
                            feature={
                                contract.IMAGE: tf.train.Feature(bytes_list=tf.train.BytesList(value=[png])),
                                contract.CHANNEL_MEAN: tf.train.Feature(float_list=tf.train.FloatList(value=[0.5] * 3)),
                                contract.CHANNEL_STD: tf.train.Feature(float_list=tf.train.FloatList(value=[0.25] * 3)),
                            }
                        )
                    ).SerializeToString()
                )


def views(image):
    image = augment.center_crop(tf.image.convert_image_dtype(image, tf.float32), CONFIG.encoder.image_size)
    return image, tf.image.flip_left_right(image)


def first_batch(files, context):
    """This host's first per-replica batch of views, as the trainer's input builds it, and its image hashes."""
    stream, batch_size = data.host_image_stream(files, FEATURE_SPEC, CONFIG, IMAGES, False, 0, context)
    images = [image.numpy() for image in stream.take(batch_size)]
    return images, [hashlib.sha256(image.tobytes()).hexdigest() for image in images]


def step_loss(strategy, dataset_fn) -> float:
    keras.utils.set_random_seed(0)  # the same initial weights in every process
    model = SimCLR.create(CONFIG, strategy, [0.5] * 3, [0.25] * 3, steps_per_epoch=3, total_steps=6)
    loss, _ = model.train_step(iter(strategy.distribute_datasets_from_function(dataset_fn)))
    return float(loss)


def worker(folder: str) -> None:
    files = sorted(glob.glob(os.path.join(folder, "*.gz")))
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    contexts = []

    def dataset_fn(context):
        contexts.append(context)
        stream, batch_size = data.host_image_stream(files, FEATURE_SPEC, CONFIG, IMAGES, False, 0, context)
        return stream.map(views).batch(batch_size, drop_remainder=True)

    loss = step_loss(strategy, dataset_fn)
    (context,) = contexts
    _, hashes = first_batch(files, context)
    print(
        json.dumps(
            {
                "pipeline": context.input_pipeline_id,
                "pipelines": context.num_input_pipelines,
                "replicas": strategy.num_replicas_in_sync,
                "files": [os.path.basename(f) for f in data.host_files(files, context)],
                "first_batch": hashes,
                "loss": loss,
            }
        )
    )


def single(folder: str) -> None:
    files = sorted(glob.glob(os.path.join(folder, "*.gz")))
    images, hashes = [], []
    for host in range(2):  # what each of the two hosts feeds its replica in the first step
        context = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=host, num_replicas_in_sync=2)
        host_images, host_hashes = first_batch(files, context)
        images += host_images
        hashes += host_hashes
    batch = tf.data.Dataset.from_tensor_slices(np.stack(images)).map(views).batch(len(images))
    loss = step_loss(tf.distribute.get_strategy(), lambda _: batch.repeat())
    print(json.dumps({"first_batch": hashes, "loss": loss}))


{"write": write, "worker": worker, "single": single}[MODE](sys.argv[-1])
