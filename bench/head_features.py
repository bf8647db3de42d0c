"""Benchmark: which features to probe: the encoder's h, the head's first layer g1, [h; g1], h with BN re-estimated.

SimCLR v2 (Chen et al. 2020b, section 2) finds that the head's middle layer can hold better features
than the encoder's output; the seed's README reports +8 points on this dataset from probing after
the head's first layer. For a finished `simclr-tfx run` (several Trainer executions may share its
output folder, as bench/levers.py's runs do) it rebuilds encoder and head from each execution's final
checkpoint, encodes the train images' centre crops at the serving size (`h_bn`: after the encoder's BN
statistics are re-estimated on those crops, "precise BN" at the serving size), and scores 10 %-label probes
on each feature set, each on the other 90 % of train (5 label draws, as bench/serving_size.py): a
choice made on held-out train labels, never on test.
Writes bench/results/head_features.json (reruns add to it); the last line printed is the JSON.

    python bench/head_features.py RUN_OUTPUT [--config local] [--runs 8,20]

RUN_OUTPUT is the run's --output folder; --runs picks Trainer executions in its MLMD store (default: the
newest), each read with the examples and Transform graph it was trained from (bench/run_artifacts.py).
"""

import argparse
import json
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from trainer import runtime  # noqa: E402

runtime.configure()

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_transform as tft  # noqa: E402
import tf_keras as keras  # noqa: E402
from run_artifacts import config_name, trainer_artifacts  # noqa: E402
from serving_size import heldout_top1, stored_split  # noqa: E402

from components.evaluation.labelled_examples import channel_statistics, split_files  # noqa: E402
from pipeline.config import load_config  # noqa: E402
from trainer import augment  # noqa: E402
from trainer.finetune import HEAD_LAYER_NAMES  # noqa: E402
from trainer.model import build_encoder_and_head  # noqa: E402
from trainer.train import FINAL_CHECKPOINT  # noqa: E402

RESULTS = pathlib.Path(__file__).parent / "results"


def features(training, channel_stats, checkpoint: str, stored: np.ndarray, size: int) -> dict:
    """{h [n, d], g1 [n, w], h_bn [n, d]} of each stored image's centre crop at ``size``; h_bn is h after the
    encoder's BN statistics are re-estimated on these crops."""
    encoder, head = build_encoder_and_head(training, *channel_stats)
    tf.train.Checkpoint(encoder=encoder, head=head).read(checkpoint).expect_partial().assert_existing_objects_matched()
    g1 = encoder.output
    for name in HEAD_LAYER_NAMES:  # g's first layer: dense, BN, ReLU
        g1 = head.get_layer(name.format(0))(g1)
    both = keras.Model(encoder.input, [encoder.output, g1])
    views = tf.data.Dataset.from_tensor_slices(stored).map(lambda png: augment.served_view(png, size)).batch(64)
    h, g1 = zip(*[(a.numpy(), b.numpy()) for a, b in (both(batch, training=False) for batch in views)])
    reestimate_batch_norm(encoder, views)
    h_bn = np.concatenate([encoder(batch, training=False).numpy() for batch in views])
    return {"h": np.concatenate(h), "g1": np.concatenate(g1), "h_bn": h_bn}


def reestimate_batch_norm(model, views) -> None:
    """Every BN layer's moving mean and variance set to their averages over ``views``' batches at the serving
    size ("precise BN"): the training crops' statistics differ from those of whole images at another size."""
    layers = [layer for layer in model.submodules if hasattr(layer, "moving_mean")]
    momenta = [layer.momentum for layer in layers]
    for count, batch in enumerate(views, start=1):
        for layer in layers:
            layer.momentum = 1.0 - 1.0 / count  # a running mean over the batches so far
        model(batch, training=True)
    for layer, momentum in zip(layers, momenta):
        layer.momentum = momentum


def train_split(examples: str, transform_graph: str) -> tuple:
    """(channel statistics, stored PNGs [n], labels [n], content hashes [n]) of the train split as stored."""
    transform_layer = tft.TFTransformOutput(transform_graph).transform_features_layer()
    channel_stats = channel_statistics(split_files(examples, "train"), transform_layer)
    return (channel_stats, *stored_split(transform_layer, examples, "train"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_output", type=pathlib.Path)
    parser.add_argument("--config", default="", help="the run's config, a name or file (default: local; --tiny: smoke)")
    parser.add_argument("--runs", default="", help="Trainer execution IDs (default: the newest)")
    parser.add_argument("--tiny", action="store_true", help="the smoke config's newest run; writes no results")
    args = parser.parse_args()
    args.config = config_name(args.config, args.tiny)
    if args.tiny:
        args.runs = ""
    training = load_config(args.config).training
    splits: dict = {}  # (examples, transform graph) -> train_split(...): runs of one folder mostly share them
    path = RESULTS / "head_features.json"
    results = json.loads(path.read_text()) if path.exists() and not args.tiny else {}
    ids = [int(execution) for execution in args.runs.split(",")] if args.runs else [0]
    for run in (trainer_artifacts(args.run_output, execution) for execution in ids):
        key = (run.examples, run.transform_graph)
        if key not in splits:
            splits[key] = train_split(*key)
        channel_stats, stored, labels, keys = splits[key]
        checkpoint = str(pathlib.Path(run.model_run) / FINAL_CHECKPOINT)
        sets = features(training, channel_stats, checkpoint, stored, training.encoder.serving_size)
        sets["h_g1"] = np.concatenate([sets["h"], sets["g1"]], axis=1)
        row = {}
        for name, x in sets.items():
            row[f"{name}_heldout_top1_10pct_mean"] = round(float(np.mean(heldout_top1(x, labels, keys))), 4)
            row[f"{name}_dim"] = int(x.shape[1])
        results[f"{args.run_output}:{run.execution_id}"] = row
        if not args.tiny:
            RESULTS.mkdir(exist_ok=True)
            path.write_text(json.dumps(results, indent=2))
        print(
            f"run {run.execution_id}: held-out train @10% "
            + ", ".join(f"{name} {100 * row[f'{name}_heldout_top1_10pct_mean']:.1f} %" for name in sets)
        )
    print(json.dumps({"runs": results}))


if __name__ == "__main__":
    main()
