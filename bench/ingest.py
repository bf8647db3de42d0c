"""Benchmark: ingestion component vs a plain single-process loop writing the same TFRecords.

Both sides use the same per-file conversion (components.ingest.image_decoding); the
component runs under LocalDagRunner with the config's Beam args (DirectRunner).
Sizes: the seed dataset (1,500 images) and the same replicated to 15,000, each
copy made unique by bytes appended after the JPEG end marker (so no duplicate
hashes). Writes bench/results/ingest.json; the last line printed is its JSON.

    python bench/ingest.py [--data ../shared/data/imagenet-5-categories] [--sizes 1500,15000]
"""

import argparse
import json
import os
import pathlib
import shutil
import tempfile
import time

from trainer import runtime  # noqa: E402

runtime.configure()

import tensorflow as tf  # noqa: E402
from absl import logging as absl_logging  # noqa: E402

from components.ingest import image_decoding, image_folder  # noqa: E402
from pipeline.config import load_config  # noqa: E402
from pipeline.local_runner import run_pipeline  # noqa: E402

RESULTS = pathlib.Path(__file__).parent / "results"


def replicate(source: str, target: pathlib.Path, copies: int) -> None:
    """`copies` unique copies of every image of source, in the same split folders."""
    for rel in image_folder.list_files(source):
        if "/" not in rel:
            continue
        data = pathlib.Path(source, rel).read_bytes()
        split, name = rel.split("/", 1)
        stem, ext = os.path.splitext(name)
        (target / split).mkdir(parents=True, exist_ok=True)
        for copy in range(copies):
            (target / split / f"{stem}-{copy}{ext}").write_bytes(data + copy.to_bytes(4, "big"))


def plain_loop(data: str, output: pathlib.Path, config) -> int:
    """The baseline: one process, one file after another, gzipped TFRecords per split."""
    plan = image_folder.plan_dataset(data, config.ingest.class_separator)
    writers, written = {}, 0
    for source in plan.files:
        sha256, result, _ = image_decoding.ingest_file(
            source.path, source.relative_path, source.label, plan.class_ids, config.ingest.max_pixels
        )
        if isinstance(result, image_decoding.Rejection):
            continue
        split = source.split or image_folder.hash_split(sha256, dict(config.ingest.split_buckets))
        if split not in writers:
            (output / f"Split-{split}").mkdir(parents=True, exist_ok=True)
            writers[split] = tf.io.TFRecordWriter(str(output / f"Split-{split}" / "data.gz"), options="GZIP")
        writers[split].write(result.SerializeToString())
        written += 1
    for writer in writers.values():
        writer.close()
    return written


def time_component(data: str, output: pathlib.Path, config) -> int:
    config = config.model_copy(update={"data": data, "output": str(output), "enable_cache": False})
    run = run_pipeline(config, until="examples")
    return run.latest_outputs("ImageExampleGen")["examples"][0].custom_properties["written"].int_value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data",
        default=str(
            pathlib.Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "imagenet-5-categories"
        ),
    )
    parser.add_argument("--sizes", default="1500,15000")
    parser.add_argument("--config", default="local")
    parser.add_argument("--beam-arg", action="append", default=None, help="replace the config's Beam args")
    parser.add_argument(
        "--tiny", action="store_true", help="the smoke config at sizes of --data and twice it; writes no results"
    )
    args = parser.parse_args()
    if args.tiny:
        args.config = "smoke"
        base_size = len([p for p in image_folder.list_files(args.data) if "/" in p])
        args.sizes = f"{base_size},{2 * base_size}"
    absl_logging.set_verbosity(absl_logging.WARNING)
    config = load_config(args.config)
    if args.beam_arg is not None:
        config = config.model_copy(update={"beam_args": args.beam_arg})
    base = len([p for p in image_folder.list_files(args.data) if "/" in p])

    results = {}
    with tempfile.TemporaryDirectory(prefix="simclr-bench-ingest-") as scratch:
        scratch = pathlib.Path(scratch)
        for size in (int(s) for s in args.sizes.split(",")):
            copies = max(1, round(size / base))
            data = args.data if copies == 1 else str(scratch / f"data-{size}")
            if copies > 1:
                replicate(args.data, pathlib.Path(data), copies)
            start = time.perf_counter()
            plain_written = plain_loop(data, scratch / f"plain-{size}", config)
            plain_s = time.perf_counter() - start
            start = time.perf_counter()
            ours_written = time_component(data, scratch / f"ours-{size}", config)
            ours_s = time.perf_counter() - start
            if ours_written != plain_written:
                raise SystemExit(f"mismatch at {size}: component wrote {ours_written}, plain loop {plain_written}")
            results[str(size)] = {
                "images": plain_written,
                "ours_s_per_image": ours_s / plain_written,
                "plain_s_per_image": plain_s / plain_written,
                "ratio": ours_s / plain_s,
                "ours_s": round(ours_s, 2),
                "plain_s": round(plain_s, 2),
            }
            print(
                f"{size:>6} images: component {ours_s:7.1f} s, plain loop {plain_s:7.1f} s, "
                f"ratio {ours_s / plain_s:.2f}x",
                flush=True,
            )
            shutil.rmtree(scratch / f"plain-{size}")

    if not args.tiny:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "ingest.json").write_text(json.dumps({"beam_args": config.beam_args, "results": results}, indent=2))
    print(json.dumps(results))


if __name__ == "__main__":
    main()
