"""Benchmark: the serving size of a trained encoder, chosen on train labels, with the test figures beside.

For one finished `simclr-tfx run` it stores the train and test images with the run's Transform
graph, gives the exported encoder their centre crops resized to each size and reports
  heldout: a 10 %-label probe fitted as LinearEval fits it, scored on the other 90 % of train
           (5 label draws): the figure to choose the size by, since it never sees test;
  test:    LinearEval's probes (1, 10 and 100 % of the labels, 5 label draws) and kNN on test.
Encoder weights do not depend on the serving size (`training.encoder.eval_image_size`), so this
says what a run would score at another size without training again. The images are the stored ones
(`transform.stored_size`), as training saw them, whereas a run's Embedder feeds LinearEval the source
files: at the same size the two test figures can differ (by 1.2 points for one `long` encoder). Writes
bench/results/serving_size.json; the last line printed is the JSON.

    python bench/serving_size.py RUN_OUTPUT --sizes 112,128,160,192 [--trainer ID]

RUN_OUTPUT is the run's --output folder; --trainer picks a Trainer execution in its MLMD store (default:
the newest), read with the examples and Transform graph it was trained from (bench/run_artifacts.py).
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
from run_artifacts import trainer_artifacts  # noqa: E402

from components.evaluation import embedder, labelled_examples, linear_probe  # noqa: E402
from trainer import augment, knn  # noqa: E402

RESULTS = pathlib.Path(__file__).parent / "results"
DRAWS = range(5)


def stored_split(transform_layer, examples: str, split: str):
    """(stored PNG bytes [n], label ids [n], content hashes [n]) of a split, in memory (a 1,500-image tool)."""
    files = labelled_examples.split_files(examples, split)
    labels, keys = labelled_examples.labels_and_keys(files)
    images = np.array([png.numpy() for png, _ in labelled_examples.stored_images(files, transform_layer)], object)
    return images, labels, keys


def features(encoder, stored_images: np.ndarray, size: int) -> np.ndarray:
    views = tf.data.Dataset.from_tensor_slices(stored_images).map(lambda png: augment.served_view(png, size)).batch(64)
    return np.concatenate([encoder(batch).numpy() for batch in views])


def heldout_top1(train_x: np.ndarray, labels: np.ndarray, keys: np.ndarray) -> list:
    """10 %-label probes scored on the rest of train, one figure per label draw."""
    train_x = linear_probe.l2_normalise(train_x)
    scores = []
    for draw in DRAWS:
        subset = linear_probe.stratified_subset(labels, 0.1, draw, keys)
        rest = np.setdiff1d(np.arange(len(labels)), subset)
        probe = linear_probe.fit_probe(train_x[subset], labels[subset], draw)
        scores.append(float(np.mean(probe.predict(train_x[rest]) == labels[rest])))
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_output", type=pathlib.Path)
    parser.add_argument("--sizes", default="112,128,160,192")
    parser.add_argument("--trainer", type=int, default=0, help="a Trainer execution ID (default: the newest)")
    parser.add_argument("--tiny", action="store_true", help="one small size; writes no results")
    parser.add_argument("--print-only", action="store_true", help="prints the JSON line, writes no results file")
    args = parser.parse_args()
    if args.tiny:
        args.sizes = "32"
    run = trainer_artifacts(args.run_output, args.trainer)
    model_dir, examples = embedder.serving_model_dir(run.model), run.examples
    transform_layer = tft.TFTransformOutput(run.transform_graph).transform_features_layer()
    served = tf.saved_model.load(model_dir)  # kept: its functions need the object that holds the weights
    train_images, train_y, train_keys = stored_split(transform_layer, examples, "train")
    test_images, test_y, _ = stored_split(transform_layer, examples, "test")

    results = {"trainer": run.execution_id, "model": model_dir, "examples": examples, "sizes": {}}
    for size in [int(size) for size in args.sizes.split(",")]:
        train_x, test_x = features(served.encode, train_images, size), features(served.encode, test_images, size)
        heldout = heldout_top1(train_x, train_y, train_keys)
        test = linear_probe.evaluate_features(
            knn.array_blocks(train_x, train_y), train_y, test_x, test_y, [0.01, 0.1, 1.0], DRAWS, train_keys=train_keys
        )
        results["sizes"][str(size)] = {
            "heldout_top1_10pct_mean": round(float(np.mean(heldout)), 4),
            "heldout_top1_10pct_sd": round(float(np.std(heldout)), 4),
            **{
                f"top1_{100 * float(fraction):g}pct_{stat}": round(getattr(probe, f"top1_{stat}"), 4)
                for fraction, probe in test.linear.items()
                for stat in ("mean", "sd")
            },
            "knn_top1": round(test.knn_top1, 4),
        }
        row = results["sizes"][str(size)]
        print(
            f"{size:>4} px: held-out train @10% {100 * row['heldout_top1_10pct_mean']:.1f} %, "
            f"test @10% {100 * row['top1_10pct_mean']:.1f} ± {100 * row['top1_10pct_sd']:.1f} %, "
            f"kNN {100 * row['knn_top1']:.1f} %",
            flush=True,
        )
    if not (args.tiny or args.print_only):
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "serving_size.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results))


if __name__ == "__main__":
    main()
