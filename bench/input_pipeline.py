"""Benchmark: augmented images/s of the tf.data input pipeline alone, against what training consumes.

Input: the project's pretraining dataset (cached stored-size images, two
per-image augmented views, batched) iterated with no model. Training: the
same training step fed one fixed batch, so it never waits for input. Both at
ResNet-18, 96 px, batch 256, on this CPU, in one run; views are counted as images.
Writes bench/results/input_pipeline.json; the last line printed is its JSON.
"""

import argparse
import json
import pathlib
import tempfile

from trainer import runtime

runtime.configure()  # tf-keras and the CPU backend, before TensorFlow is imported

import tensorflow as tf  # noqa: E402
from trainer_inputs import DEFAULT_DATA, FEATURE_SPEC, images_per_s, source_images, write_stored_examples  # noqa: E402

from trainer import data  # noqa: E402
from trainer.config import TrainingConfig  # noqa: E402
from trainer.model import SimCLR  # noqa: E402

RESULTS = pathlib.Path(__file__).parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--images", type=int, default=1250)
    parser.add_argument("--tiny", action="store_true", help="a few small synthetic images and steps; writes no results")
    args = parser.parse_args()
    if args.tiny:
        args.data, args.size, args.batch, args.steps, args.images = "", 32, 8, 1, 32
    config = TrainingConfig.model_validate(
        {
            "encoder": {"depth": 18, "image_size": args.size, "stem": "imagenet"},
            "batch_size": args.batch,
            "sync_batch_norm": False,
            "shuffle_buffer": 1024,
        }
    )
    with tempfile.TemporaryDirectory() as scratch:
        files = write_stored_examples(source_images(args.data, args.images), scratch)
        dataset = data.pretraining_dataset(files, FEATURE_SPEC, config, num_images=args.images)
        iterator = iter(dataset)
        # Fill the cache first: its one-off decoding is not the steady state.
        for _ in range(-(-args.images // args.batch) + 1):
            next(iterator)
        input_rate = images_per_s(lambda: next(iterator)[0].numpy(), 1, 4 * args.steps, 2 * args.batch)
        print(f"input pipeline: {input_rate:.0f} images/s", flush=True)

        model = SimCLR.create(config, tf.distribute.get_strategy(), [0.45] * 3, [0.25] * 3, 10, 1000)
        fixed = next(iterator)
        repeat = iter(tf.data.Dataset.from_tensors(fixed).repeat())
        train_rate = images_per_s(lambda: float(model.train_step(repeat)[0]), 2, args.steps, 2 * args.batch)
        print(f"training step: {train_rate:.0f} images/s", flush=True)

    result = {
        "input_images_per_s": round(input_rate, 1),
        "train_images_per_s": round(train_rate, 1),
        "ratio": round(input_rate / train_rate, 2),
        "setup": {"encoder": "resnet18-imagenet-stem", "size": args.size, "batch": args.batch},
    }
    if not args.tiny:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "input_pipeline.json").write_text(json.dumps(result, indent=2))
    print(f"the input pipeline delivers {input_rate / train_rate:.1f}x what training consumes")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
