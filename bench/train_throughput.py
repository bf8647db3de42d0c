"""Benchmark: SimCLR training images/s (both views counted) against the seed notebook's loop.

Both sides train the same encoder (ResNet-18, ImageNet stem) at 96 px with batch
256 on this CPU, in one run:
  ours: the project's loop (tf.data per-image augmentation in parallel from the
        cached stored-size images, one forward pass over both views, NT-Xent, LARS);
  seed: a faithful re-implementation of the notebook's loop (JPEGs decoded and
        resized in tf.data, eager batch-level augmentation, two separate forward
        passes, boolean-mask NT-Xent, SGD with CosineDecay).
Each loop runs in its own process. "ours" runs as shipped, with oneDNN CPU kernels
on (trainer/runtime.py); "seed" runs under TensorFlow's defaults, as the notebook
does, and again with oneDNN on, so the gain from the backend and the gain from
the loop can be told apart (ratio and ratio_same_backend).
"ours" runs again under mixed bfloat16 (`training.bf16: on`): `bf16_speedup`, with whether this CPU
computes bfloat16 natively (`cpu_native_bf16`: AVX-512 BF16 or AMX; elsewhere it is emulated).
It also reports achieved GFLOP/s (bench/flops.py: the profiler's count of a forward
pass per view, x 3 for forward + backward) against the best float32 matmul peak measured in the run.
Writes bench/results/train_throughput.json; the last line printed is its JSON.
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402
from flops import training_flops_per_image  # noqa: E402 (after trainer_inputs, which configures TensorFlow)
from trainer_inputs import (
    DEFAULT_DATA,
    FEATURE_SPEC,
    images_per_s,
    matmul_peak_gflops,
    source_images,
    write_stored_examples,
)

from trainer import data  # noqa: E402
from trainer.config import TrainingConfig  # noqa: E402
from trainer.distribute import cpu_has_native_bf16  # noqa: E402
from trainer.model import SimCLR  # noqa: E402
from trainer.resnet import build_resnet  # noqa: E402
from trainer.train import configure_precision  # noqa: E402

RESULTS = pathlib.Path(__file__).parent / "results"


def ours(files, size: int, batch: int, warmup: int, steps: int, bf16: bool = False, depth: int = 18):
    config = TrainingConfig.model_validate(
        {
            "encoder": {"depth": depth, "image_size": size, "stem": "imagenet"},
            "batch_size": batch,
            "sync_batch_norm": False,
            "shuffle_buffer": 1024,
            "bf16": "on" if bf16 else "off",
        }
    )
    configure_precision(config, tf.distribute.get_strategy())
    model = SimCLR.create(config, tf.distribute.get_strategy(), [0.45] * 3, [0.25] * 3, 10, 1000)
    iterator = iter(data.pretraining_dataset(files, FEATURE_SPEC, config, num_images=data.count_records(files)))
    rate = images_per_s(lambda: float(model.train_step(iterator)[0]), warmup, steps, 2 * batch)
    return rate, training_flops_per_image(model.encoder, model.head, size)


def seed(paths, size: int, batch: int, warmup: int, steps: int, depth: int = 18) -> float:
    """The notebook's loop, at the benchmark's encoder, size and batch."""

    def parse(path):
        image = tf.image.convert_image_dtype(tf.image.decode_jpeg(tf.io.read_file(path), channels=3), tf.float32)
        return tf.image.resize(image, [size, size])

    dataset = (
        tf.data.Dataset.from_tensor_slices(paths)
        .map(parse, num_parallel_calls=tf.data.AUTOTUNE)
        .shuffle(1024)
        .repeat()
        .batch(batch, drop_remainder=True)
        .prefetch(tf.data.AUTOTUNE)
    )

    def random_apply(func, x, p):
        return tf.cond(tf.random.uniform([]) < p, lambda: func(x), lambda: x)

    def color_jitter(x, s=1.0):
        x = tf.image.random_brightness(x, max_delta=0.8 * s)
        x = tf.image.random_contrast(x, lower=1 - 0.8 * s, upper=1 + 0.8 * s)
        x = tf.image.random_saturation(x, lower=1 - 0.8 * s, upper=1 + 0.8 * s)
        x = tf.image.random_hue(x, max_delta=0.2 * s)
        return tf.clip_by_value(x, 0, 1)

    def custom_augment(x):
        x = random_apply(tf.image.flip_left_right, x, 0.5)
        x = random_apply(color_jitter, x, 0.8)
        return random_apply(lambda v: tf.tile(tf.image.rgb_to_grayscale(v), [1, 1, 1, 3]), x, 0.2)

    augmentation = keras.Sequential([keras.layers.Lambda(custom_augment)])
    inputs = keras.Input((size, size, 3))
    backbone = build_resnet(depth, 1.0, size, "imagenet")
    h = backbone(inputs, training=True)
    h = keras.layers.Activation("relu")(keras.layers.Dense(256)(h))
    h = keras.layers.Activation("relu")(keras.layers.Dense(128)(h))
    model = keras.Model(inputs, keras.layers.Dense(50)(h))
    optimizer = keras.optimizers.SGD(keras.optimizers.schedules.CosineDecay(0.1, 1000))
    criterion = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=keras.losses.Reduction.SUM)
    negative_mask = tf.constant(1 - np.tile(np.eye(batch), (1, 2)), tf.bool)
    temperature = 0.1

    @tf.function
    def train_step(xis, xjs):
        with tf.GradientTape() as tape:
            zis = tf.math.l2_normalize(model(xis), axis=1)
            zjs = tf.math.l2_normalize(model(xjs), axis=1)
            l_pos = tf.reshape(tf.reduce_sum(zis * zjs, 1), (batch, 1)) / temperature
            negatives = tf.concat([zjs, zis], axis=0)
            loss = 0.0
            for positives in (zis, zjs):
                l_neg = tf.reshape(
                    tf.boolean_mask(tf.matmul(positives, negatives, transpose_b=True), negative_mask), (batch, -1)
                )
                loss += criterion(y_pred=tf.concat([l_pos, l_neg / temperature], 1), y_true=tf.zeros(batch, tf.int32))
            loss = loss / (2 * batch)
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        return loss

    iterator = iter(dataset)

    def step():
        image_batch = next(iterator)
        return float(train_step(augmentation(image_batch), augmentation(image_batch)))

    return images_per_s(step, warmup, steps, 2 * batch)


def measure(args) -> dict:
    """One loop in this process, with the TensorFlow backend this process was started with."""
    paths = source_images(args.data, args.images)
    peak = matmul_peak_gflops(args.peak_size)
    if args.measure == "seed":
        rate = seed(paths, args.size, args.batch, args.warmup, args.steps, args.depth)
        return {"images_per_s": rate, "matmul_peak_gflops": peak}
    with tempfile.TemporaryDirectory() as scratch:
        rate, flops_per_image = ours(
            write_stored_examples(paths, scratch),
            args.size,
            args.batch,
            args.warmup,
            args.steps,
            args.measure == "bf16",
            args.depth,
        )
    return {"images_per_s": rate, "matmul_peak_gflops": peak, "training_flops_per_image": flops_per_image}


def run_worker(args, loop: str, onednn: str) -> dict:
    """Each measurement runs in its own process: TensorFlow reads TF_ENABLE_ONEDNN_OPTS only at start-up."""
    env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS=onednn)
    command = [
        sys.executable,
        __file__,
        "--measure",
        loop,
        "--data",
        args.data,
        "--size",
        str(args.size),
        "--batch",
        str(args.batch),
        "--warmup",
        str(args.warmup),
        "--steps",
        str(args.steps),
        "--images",
        str(args.images),
        "--peak-size",
        str(args.peak_size),
        "--depth",
        str(args.depth),
    ]
    output = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
    result = json.loads(output.strip().splitlines()[-1])
    backend = "oneDNN" if onednn == "1" else "Eigen (TensorFlow's default on this CPU)"
    print(
        f"{loop:>4} with {backend}: {result['images_per_s']:.1f} images/s "
        f"(matmul peak {result['matmul_peak_gflops']:.0f} GFLOP/s)",
        flush=True,
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--images", type=int, default=1250)
    parser.add_argument("--peak-size", type=int, default=2048, help="side of the square matmuls that find the peak")
    parser.add_argument("--depth", type=int, default=18, help="the ResNet's depth, both loops")
    parser.add_argument(
        "--tiny", action="store_true", help="a ResNet-10 on a few small synthetic images and steps; writes no results"
    )
    parser.add_argument("--measure", choices=["ours", "bf16", "seed"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.tiny:
        args.data, args.size, args.batch, args.warmup, args.steps, args.images = "", 32, 8, 1, 1, 32
        args.depth = 10
        args.peak_size = 256
    if args.measure:
        print(json.dumps(measure(args)))
        return

    ours_result = run_worker(args, "ours", onednn="1")  # as shipped: trainer.runtime turns oneDNN on
    bf16_result = run_worker(args, "bf16", onednn="1")  # the same loop under mixed_bfloat16 (training.bf16: on)
    seed_default = run_worker(args, "seed", onednn="0")  # the notebook as it runs under TensorFlow's defaults
    # The notebook's loop given our backend too (--tiny: the same code, measured once).
    seed_onednn = seed_default if args.tiny else run_worker(args, "seed", onednn="1")
    ours_rate = ours_result["images_per_s"]
    peak = max(r["matmul_peak_gflops"] for r in (ours_result, seed_default, seed_onednn))
    # The rates count views (two per image); the FLOP count is per image, both views.
    achieved = ours_rate / 2 * ours_result["training_flops_per_image"] / 1e9
    result = {
        "ours_images_per_s": round(ours_rate, 2),
        "seed_images_per_s": round(seed_default["images_per_s"], 2),
        "ratio": round(ours_rate / seed_default["images_per_s"], 3),
        "seed_same_backend_images_per_s": round(seed_onednn["images_per_s"], 2),
        "ratio_same_backend": round(ours_rate / seed_onednn["images_per_s"], 3),
        "ours_bf16_images_per_s": round(bf16_result["images_per_s"], 2),
        "bf16_speedup": round(bf16_result["images_per_s"] / ours_rate, 3),
        "cpu_native_bf16": cpu_has_native_bf16(),
        "matmul_peak_gflops": round(peak, 1),
        "achieved_gflops": round(achieved, 1),
        "peak_fraction": round(achieved / peak, 3),
        "training_gflop_per_image": round(ours_result["training_flops_per_image"] / 1e9, 3),
        "setup": dict(encoder=f"resnet{args.depth}-imagenet-stem", size=args.size, batch=args.batch, steps=args.steps),
    }
    if not args.tiny:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "train_throughput.json").write_text(json.dumps(result, indent=2))
    print(
        f"ours {ours_rate:.1f} img/s vs seed {seed_default['images_per_s']:.1f} img/s: {result['ratio']:.2f}x "
        f"({result['ratio_same_backend']:.2f}x against the seed loop on oneDNN too); "
        f"{achieved:.0f} of {peak:.0f} GFLOP/s ({achieved / peak:.0%} of the matmul peak); under mixed "
        f"bfloat16 {result['ours_bf16_images_per_s']:.1f} img/s ({result['bf16_speedup']:.2f}x, native bf16: "
        f"{result['cpu_native_bf16']})"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
