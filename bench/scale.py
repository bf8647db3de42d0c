"""Benchmark: how each pipeline stage's time and memory grow with the number of images.

For each size it writes a deterministic synthetic ImageFolder (``train/`` and ``test/``, 4:1,
100 classes, 40 x 40 JPEGs whose colour depends on the class), runs the whole pipeline on it
with the ``scale`` config (a tiny encoder, a fixed 40 training steps) in a child process, and
samples the resident memory of that process and its children every 0.2 s. A stage is one
component's execution: its seconds come from MLMD (start to end), its peak RSS is the largest
sample inside that window. Components run in one process, so a stage's peak includes memory
kept from earlier stages: growth can be over-attributed to a later stage, never hidden.
Exponents are least-squares slopes of log(value) on log(size) over the sizes; 1 is linear.

    python bench/scale.py [--sizes 2000,20000,200000] [--json]

Writes bench/results/scale.json; the last line printed is its JSON.
"""

import argparse
import json
import pathlib
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np
import psutil
from PIL import Image

ROOT = pathlib.Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
CLASSES = 100
SIDE = 40
SAMPLE_SECONDS = 0.2


def write_dataset(root: pathlib.Path, size: int, classes: int = CLASSES) -> None:
    """``size`` JPEGs, a fifth of them under test/; class c has hue c/classes plus per-image noise."""
    rng = np.random.default_rng(size)
    hues = np.linspace(0, 255, classes, endpoint=False).astype(np.uint8)
    for index in range(size):
        label = index % classes
        split = "test" if index % 5 == 4 else "train"
        folder = root / split / f"c{label:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        hsv = np.stack(
            [
                np.full((SIDE, SIDE), hues[label]),
                rng.integers(120, 256, (SIDE, SIDE)),
                rng.integers(60, 256, (SIDE, SIDE)),
            ],
            axis=-1,
        ).astype(np.uint8)
        Image.fromarray(hsv, "HSV").convert("RGB").save(folder / f"{index:07d}.jpg", quality=85)


def run_pipeline(data: pathlib.Path, output: pathlib.Path, config: str = "scale", whole: bool = True):
    """Runs `simclr-tfx run` (``whole``) or `simclr-tfx ingest` as a child; returns its RSS samples
    [(time, MB)] and the run's JSON summary."""
    command = [sys.executable, "-m", "pipeline.cli", "run" if whole else "ingest", "--config", config]
    command += ["--data", str(data), "--output", str(output), "--json"]
    if whole:
        command += ["--registry", str(output / "registry")]
    child = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    samples, done = [], threading.Event()

    def sample() -> None:
        process = psutil.Process(child.pid)
        while not done.is_set():
            try:
                tree = [process] + process.children(recursive=True)
                samples.append((time.time(), sum(p.memory_info().rss for p in tree) / 2**20))
            except psutil.Error:
                pass
            time.sleep(SAMPLE_SECONDS)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = child.communicate()
    done.set()
    sampler.join()
    if child.returncode != 0:
        raise SystemExit(f"pipeline failed at {data}:\n{err[-3000:]}")
    return samples, json.loads(out.strip().splitlines()[-1])


def stage_windows(output: pathlib.Path, pipeline_name: str):
    """{component id: (start, end)} in seconds since the epoch, from the run's MLMD node executions."""
    sys.path.insert(0, str(ROOT))
    from pipeline.local_runner import LocalRun

    store = LocalRun(str(output), pipeline_name).store()
    windows = {}
    for context in store.get_contexts_by_type("node"):
        executions = store.get_executions_by_context(context.id)
        if executions:
            last = max(executions, key=lambda e: e.create_time_since_epoch)
            windows[context.name.split(".", 1)[1]] = (
                last.create_time_since_epoch / 1000,
                last.last_update_time_since_epoch / 1000,
            )
    return windows


def exponent(sizes, values) -> float:
    return float(np.polyfit(np.log(sizes), np.log(np.maximum(values, 1e-6)), 1)[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2000,20000,200000")
    parser.add_argument("--json", action="store_true", help="print only the JSON line")
    parser.add_argument(
        "--tiny",
        action="store_true",
        help="ingestion and validation only (`simclr-tfx ingest`), smoke config, 4-class sets of 60 and 120 images; "
        "writes no results",
    )
    args = parser.parse_args()
    config, pipeline_name, classes = ("smoke", "simclr-smoke", 4) if args.tiny else ("scale", "simclr-scale", CLASSES)
    if args.tiny:
        args.sizes = "60,120"
    sizes = [int(size) for size in args.sizes.split(",")]
    stages = {}
    for size in sizes:
        scratch = pathlib.Path(tempfile.mkdtemp(prefix=f"scale-{size}-"))
        try:
            started = time.monotonic()
            write_dataset(scratch / "data", size, classes)
            samples, summary = run_pipeline(scratch / "data", scratch / "run", config, whole=not args.tiny)
            windows = stage_windows(scratch / "run", pipeline_name)
            for name, (start, end) in sorted(windows.items(), key=lambda item: item[1]):
                # A stage shorter than the sampling interval still gets the samples around it.
                inside = [mb for t, mb in samples if start - SAMPLE_SECONDS <= t <= end + SAMPLE_SECONDS]
                stage = stages.setdefault(name, {"seconds": [], "peak_rss_mb": []})
                stage["seconds"].append(round(end - start, 2))
                stage["peak_rss_mb"].append(round(max(inside)))
            if not args.json:
                print(
                    f"{size} images: {time.monotonic() - started:.0f} s, "
                    f"peak {max(mb for _, mb in samples):.0f} MB, pushed {summary.get('version')}",
                    flush=True,
                )
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    for stage in stages.values():
        if len(stage["seconds"]) == len(sizes) and len(sizes) > 1:
            stage["time_exponent"] = round(exponent(sizes, stage["seconds"]), 3)
            stage["memory_exponent"] = round(exponent(sizes, stage["peak_rss_mb"]), 3)
    result = {"sizes": sizes, "stages": stages}
    if not args.tiny:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "scale.json").write_text(json.dumps(result, indent=2))
    if not args.json:
        for name, stage in stages.items():
            print(
                f"{name:<20} s {stage['seconds']}  MB {stage['peak_rss_mb']}  "
                f"time^{stage.get('time_exponent')}  memory^{stage.get('memory_exponent')}"
            )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
