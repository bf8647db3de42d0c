"""Benchmark: StatisticsGen's peak memory on image-sized examples, TFDV's default options against the pipeline's.

Writes synthetic examples with the ingested features (shared/contract.py): a unique
``image_bytes`` of ``--image-kb`` random bytes (ImageNet's JPEGs average about 110 KB), a
unique path and hash, and one of 100 classes; then, in a fresh process per size and options,
runs TFDV's ``generate_statistics_from_tfrecord`` (the GenerateStatistics transform that
StatisticsGen runs) on Beam's DirectRunner in its in-memory mode, as local runs do. Reports
each run's wall time and peak RSS, and the memory growth exponent over the sizes (least-squares
log-log slope; 1 means memory grows as the data does). Writes bench/results/statistics_memory.json;
the last line printed is its JSON.

    python bench/statistics_memory.py [--sizes 10000,20000,40000] [--image-kb 50]
"""

import argparse
import json
import pathlib
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

RESULTS = pathlib.Path(__file__).parent / "results"
OPTIONS = ("tfdv_default", "pipeline")  # tfdv.StatsOptions(), pipeline.schema.statistics_options()


def write_examples(path: pathlib.Path, count: int, image_kb: int) -> None:
    from shared import contract
    from trainer import runtime

    runtime.configure()
    import tensorflow as tf

    def feature(value):
        if isinstance(value, int):
            return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))

    rng = np.random.default_rng(0)
    with tf.io.TFRecordWriter(str(path), "GZIP") as writer:
        for index in range(count):
            label = index % 100
            features = {
                contract.IMAGE_BYTES: feature(rng.bytes(image_kb * 1024)),
                contract.IMAGE_FORMAT: feature(b"jpeg"),
                contract.LABEL: feature(f"class{label:03d}".encode()),
                contract.LABEL_ID: feature(label),
                contract.RELATIVE_PATH: feature(f"train/class{label:03d}/{index}.jpg".encode()),
                contract.HEIGHT: feature(256),
                contract.WIDTH: feature(256),
                contract.SHA256: feature(rng.bytes(32).hex().encode()),
            }
            writer.write(tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString())


def measure(path: str, options: str) -> dict:
    """In this (fresh) process: the statistics of ``path`` under ``options``; seconds and peak RSS."""
    from trainer import runtime

    runtime.configure()
    import tensorflow_data_validation as tfdv
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipeline.schema import statistics_options

    stats_options = tfdv.StatsOptions() if options == "tfdv_default" else statistics_options()
    started = time.monotonic()
    tfdv.generate_statistics_from_tfrecord(
        path, stats_options=stats_options, pipeline_options=PipelineOptions(["--direct_running_mode=in_memory"])
    )
    return {
        "seconds": round(time.monotonic() - started, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def exponent(sizes, values) -> float:
    return float(np.polyfit(np.log(sizes), np.log(values), 1)[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,20000,40000")
    parser.add_argument("--image-kb", type=int, default=50)
    parser.add_argument("--tiny", action="store_true", help="100 and 200 examples of 1 KB; results not written")
    parser.add_argument("--measure", nargs=2, metavar=("TFRECORD", "OPTIONS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(*args.measure)))
        return
    if args.tiny:
        args.sizes, args.image_kb = "100,200", 1
    sizes = [int(size) for size in args.sizes.split(",")]
    result: dict = {"image_kb": args.image_kb, "sizes": sizes, "options": {name: {} for name in OPTIONS}}
    with tempfile.TemporaryDirectory() as folder:
        for size in sizes:
            path = pathlib.Path(folder, f"examples-{size}.tfrecord.gz")
            write_examples(path, size, args.image_kb)
            for name in OPTIONS:
                child = subprocess.run(
                    [sys.executable, __file__, "--measure", str(path), name], capture_output=True, text=True, check=True
                )
                run = json.loads(child.stdout.strip().splitlines()[-1])
                entry = result["options"][name]
                for key, value in run.items():
                    entry.setdefault(key, []).append(value)
                print(f"{size} examples of {args.image_kb} KB, {name}: {run['seconds']} s, {run['peak_rss_mb']} MB")
            path.unlink()
    for entry in result["options"].values():
        entry["memory_exponent"] = round(exponent(sizes, entry["peak_rss_mb"]), 3)
    if not args.tiny:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "statistics_memory.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
