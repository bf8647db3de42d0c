"""Benchmark: linear-evaluation quality of each config on the seed's dataset, with wall time.

Each config runs the whole pipeline (`simclr-tfx run`) in its own output folder and
registry, so nothing is shared or cached between them (a config that sets `finetune` also reports
its fine-tuned classifiers at 1 % and 10 % labels and the exported one; `finetune.distill`, their
distilled students):
  random: the `local` config with `training.epochs: 0` (the untrained encoder, the floor);
  local:  the default config;
  seed:   the seed notebook's recipe at the `local` budget (pipeline/configs/seed.yaml);
  long:   pipeline/configs/long.yaml (at most 3 h on CPU);
  benchmark: `local` plus the supervised baseline (pipeline/configs/benchmark.yaml): the
          same encoder trained from scratch on the same label fractions, reported beside it;
  distill: `local` plus `finetune.distill` (each fine-tuned classifier distilled, and the exported one);
  long_stored_224: `long` on images stored at 224 px, not 128 (its 192 px serving then reads real pixels);
  long_distill: `long` plus `finetune.distill` (its probe and fine-tuned columns are `long`'s).
The probe's regularisation is chosen by cross-validation inside the labelled train
subset, never on test. Writes bench/results/quality.json and keeps each run's
report.md and PNGs under bench/results/quality/<config>/; the last line printed
is the JSON.

    python quality.py [--configs random,local,seed,long] [--data PATH]
"""

import argparse
import json
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
RESULTS = pathlib.Path(__file__).parent / "results"
CONFIGS = {
    "random": ("local", {"training": {"epochs": 0}}),
    "local": ("local", {}),
    "seed": ("seed", {}),
    "long": ("long", {}),
    "benchmark": ("benchmark", {}),
    "distill": ("local", {"finetune": {"distill": {}}}),
    "long_stored_224": ("long", {"transform": {"stored_size": 224}}),
    "long_distill": ("long", {"finetune": {"distill": {}}}),
    "smoke": ("smoke", {}),  # --tiny: a check that the benchmark runs, not a figure
}


def config_file(name: str, scratch: pathlib.Path) -> pathlib.Path:
    base, override = CONFIGS[name]
    config = yaml.safe_load((ROOT / "pipeline" / "configs" / f"{base}.yaml").read_text())
    for section, values in override.items():
        config[section] = {**config.get(section, {}), **values}
    config["pipeline_name"] = f"quality-{name}"
    path = scratch / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def run_config(name: str, data: str, results: pathlib.Path = RESULTS) -> dict:
    workdir = results / "quality" / name
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    command = [
        sys.executable,
        "-m",
        "pipeline.cli",
        "run",
        "--config",
        str(config_file(name, workdir)),
        "--data",
        data,
        "--output",
        str(workdir / "run"),
        "--registry",
        str(workdir / "registry"),
        "--json",
    ]
    started = time.monotonic()
    result = subprocess.run(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)  # progress goes to stderr
    wall = time.monotonic() - started
    if result.returncode:
        raise SystemExit(f"config {name} failed (exit {result.returncode}); see its output above")
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    report_dir = pathlib.Path(summary["report"]).parent
    for item in report_dir.iterdir():
        if item.suffix in (".md", ".png", ".json"):
            shutil.copy(item, workdir / item.name)
    linear = summary["metrics"]["linear"]
    supervised = {
        f"supervised_top1_{100 * float(fraction):g}pct_mean": round(result["top1_mean"], 4)
        for fraction, result in summary["metrics"].get("supervised_baseline", {}).items()
    }
    finetuned = summary["metrics"].get("finetuned", {})
    distilled = summary["metrics"].get("distilled", {})
    return {
        "top1_10pct_mean": round(linear["0.1"]["top1_mean"], 4),
        "top1_10pct_sd": round(linear["0.1"]["top1_sd"], 4),
        "top1_1pct_mean": round(linear["0.01"]["top1_mean"], 4),
        "top1_100pct_mean": round(linear["1"]["top1_mean"], 4),
        "knn_top1": round(summary["metrics"]["knn_top1"], 4),
        # SimCLR v2 fine-tuning and distillation (None: the config does not fine-tune, or distil).
        "finetuned_1pct_mean": _rounded(finetuned.get("0.01"), "top1_mean"),
        "finetuned_10pct_mean": _rounded(finetuned.get("0.1"), "top1_mean"),
        "finetuned_10pct_sd": _rounded(finetuned.get("0.1"), "top1_sd"),
        "distilled_1pct_mean": _rounded(distilled.get("0.01"), "top1_mean"),
        "distilled_10pct_mean": _rounded(distilled.get("0.1"), "top1_mean"),
        "distilled_10pct_sd": _rounded(distilled.get("0.1"), "top1_sd"),
        "classifier_top1": _rounded(summary["metrics"].get("classifier"), "top1"),
        "wall_s": round(wall, 1),
        "blessed": summary["blessed"],
        "report": str(workdir / "report.md"),
        **supervised,
    }


def _percent(value) -> str:
    """A fraction as a percentage, or "-" where the run has no such figure (a label fraction it does not use)."""
    return "-" if value is None else f"{100 * value:.1f} %"


def _rounded(figures, key: str):
    return round(figures[key], 4) if figures else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default="random,local,seed,long")
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "imagenet-5-categories"))
    parser.add_argument("--tiny", action="store_true", help="the smoke config only, in a scratch folder")
    args = parser.parse_args()
    if args.tiny:
        args.configs = "smoke"
    names = [name.strip() for name in args.configs.split(",") if name.strip()]
    unknown = [name for name in names if name not in CONFIGS]
    if unknown:
        raise SystemExit(f"unknown config(s) {unknown}: choose from {', '.join(CONFIGS)}")

    results_dir = pathlib.Path(tempfile.mkdtemp(prefix="quality-tiny-")) if args.tiny else RESULTS
    results_dir.mkdir(exist_ok=True)
    previous = results_dir / "quality.json"
    results = json.loads(previous.read_text()) if previous.exists() else {}
    for name in names:
        print(f"== {name}", file=sys.stderr, flush=True)
        results[name] = run_config(name, args.data, results_dir)
        previous.write_text(json.dumps(results, indent=2))
        row = results[name]
        print(
            f"{name:<8} top-1 @10% labels {100 * row['top1_10pct_mean']:.1f} ± {100 * row['top1_10pct_sd']:.1f} %, "
            f"@100% {100 * row['top1_100pct_mean']:.1f} %, kNN {100 * row['knn_top1']:.1f} %, "
            f"{row['wall_s'] / 60:.1f} min",
            flush=True,
        )
        for kind in ("finetuned", "distilled"):
            if row[f"{kind}_1pct_mean"] is not None or row[f"{kind}_10pct_mean"] is not None:
                print(
                    f"{'':<8} {kind} @1% {_percent(row[f'{kind}_1pct_mean'])}, @10% "
                    f"{_percent(row[f'{kind}_10pct_mean'])} ± {_percent(row[f'{kind}_10pct_sd'])}",
                    flush=True,
                )
        if row["classifier_top1"] is not None:
            print(f"{'':<8} classifier (all train labels) {_percent(row['classifier_top1'])}", flush=True)
        if "supervised_top1_10pct_mean" in row:
            print(
                f"{'':<8} supervised from scratch @1/10/100% labels: "
                + ", ".join(
                    f"{100 * row[f'supervised_top1_{percent}pct_mean']:.1f} %"
                    for percent in ("1", "10", "100")
                    if f"supervised_top1_{percent}pct_mean" in row
                ),
                flush=True,
            )
    print(json.dumps({name: results[name] for name in names}))


if __name__ == "__main__":
    main()
