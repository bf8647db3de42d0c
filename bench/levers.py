"""Benchmark: pretraining levers of issue 31, each chosen on held-out train labels, never on test.

For each variant (settings over a base config) and each pretraining seed (`training.random_state`),
it runs `simclr-tfx run` without fine-tuning in one shared output folder (ingestion is cached, the
Trainer runs anew) and scores the new encoder as bench/serving_size.py does at the config's serving
size: 10 %-label probes on 5 label draws, each scored on the other 90 % of train (`heldout`). The
test split's 10 % probe of the same run (LinearEval) is written beside it, not chosen by.
Variants:
  base:           the base config as shipped, in float32 (every variant but bf16 is);
  bf16:           mixed bfloat16 training (img/s is bench/train_throughput.py's; here: quality);
  debiased:       the debiased loss (Chuang et al. 2020) with tau+ = 0.2, five balanced classes;
  temperature_04: NT-Xent at temperature 0.4, not 0.2;
  weight_decay:   weight decay 1e-4 (SimCLR v2's code), not 1e-6;
  stored_224:     images stored at 224 px, not 128 (serving at 160 px then reads real pixels), in bf16;
  head_3layer:    a 3-layer projection head (SimCLR v2: 512, 512, 128), in bf16 (probe g1 with
                  bench/head_features.py).
The last two train in bf16, as `bf16: auto` does on a native-bf16 CPU: compare them with bf16.
Writes bench/results/levers.json after every run (reruns add to it; keyed base, then variant@seed); the
last line printed is the base's runs as JSON.

    python bench/levers.py [--base local] [--variants base,debiased] [--seeds 0,1] [--data PATH] [--workdir DIR]
                           [--pipeline-name NAME]
"""

import argparse
import json
import pathlib
import subprocess
import sys
import tempfile
import time

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from run_artifacts import config_name  # noqa: E402

RESULTS = pathlib.Path(__file__).parent / "results"
VARIANTS = {
    "base": {},
    "bf16": {"training": {"bf16": "on"}},
    "debiased": {"training": {"loss": "debiased", "positive_prior": 0.2}},
    "temperature_04": {"training": {"temperature": 0.4}},
    "weight_decay": {"training": {"optimizer": {"weight_decay": 1e-4}}},
    "stored_224": {"transform": {"stored_size": 224}, "training": {"bf16": "on"}},
    "head_3layer": {"training": {"head": {"widths": [512, 512, 128]}, "bf16": "on"}},
}


def config_file(base: str, variant: str, seed: int, scratch: pathlib.Path, pipeline_name: str) -> pathlib.Path:
    # Pretraining alone is compared: no fine-tuning, no supervised baseline (its runs would be repeated for nothing).
    settings = {**VARIANTS[variant], "extends": base, "pipeline_name": pipeline_name}
    settings.update(finetune=None, supervised_baseline=None)
    training = settings.setdefault("training", {})
    # float32 unless the variant says otherwise, whatever `bf16: auto` picks on this CPU
    settings["training"] = {"bf16": "off", **training, "random_state": seed}
    path = scratch / f"{variant}-{seed}.yaml"
    path.write_text(yaml.safe_dump(settings))
    return path


def run_variant(args, variant: str, seed: int, workdir: pathlib.Path, heldout_size: int) -> dict:
    pipeline_name = args.pipeline_name or f"levers-{args.base}"
    config = config_file(args.base, variant, seed, workdir, pipeline_name)
    command = [
        *(sys.executable, "-m", "pipeline.cli", "run", "--json"),
        *("--config", str(config)),
        *("--data", args.data, "--output", str(workdir / "run"), "--registry", str(workdir / "registry")),
    ]
    started = time.monotonic()
    result = subprocess.run(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    wall = time.monotonic() - started
    if result.returncode:
        raise SystemExit(f"variant {variant} seed {seed} failed (exit {result.returncode}); see its output above")
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    heldout = subprocess.run(
        [
            *(sys.executable, str(ROOT / "bench" / "serving_size.py"), str(workdir / "run")),
            # the newest Trainer execution: this run's, with the examples and Transform graph it trained from
            *("--sizes", str(heldout_size), "--print-only"),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        check=True,
    )
    row = json.loads(heldout.stdout.strip().splitlines()[-1])["sizes"][str(heldout_size)]
    return {
        "heldout_top1_10pct_mean": row["heldout_top1_10pct_mean"],
        "heldout_top1_10pct_sd": row["heldout_top1_10pct_sd"],
        "test_top1_10pct_mean": round(summary["metrics"]["linear"]["0.1"]["top1_mean"], 4),
        "run_s": round(wall, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="", help="a config name or file (default: local; --tiny: smoke)")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "imagenet-5-categories"))
    parser.add_argument("--workdir", default="", help="the shared folder, its run in run/ (default: a new scratch one)")
    parser.add_argument(
        "--pipeline-name", default="", help="the runs' pipeline name (default: levers-<base>; a run's own, to reuse it)"
    )
    parser.add_argument("--tiny", action="store_true", help="one variant and seed; writes no results")
    args = parser.parse_args()
    args.base = config_name(args.base, args.tiny)
    if args.tiny:
        args.variants, args.seeds = "debiased", "0"
    from pipeline.config import load_config

    heldout_size = load_config(args.base).training.encoder.serving_size
    workdir = pathlib.Path(args.workdir or tempfile.mkdtemp(prefix="levers-"))
    workdir.mkdir(parents=True, exist_ok=True)
    results_dir = workdir if args.tiny else RESULTS
    results_dir.mkdir(exist_ok=True)
    path = results_dir / "levers.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    table = results.setdefault(args.base, {})
    for seed in [int(seed) for seed in args.seeds.split(",")]:
        for variant in [name.strip() for name in args.variants.split(",") if name.strip()]:
            print(f"== {args.base} {variant} seed {seed}", file=sys.stderr, flush=True)
            row = run_variant(args, variant, seed, workdir, heldout_size)
            table[f"{variant}@{seed}"] = row
            path.write_text(json.dumps(results, indent=2))
            print(
                f"{variant:<15} seed {seed}: held-out train @10% {100 * row['heldout_top1_10pct_mean']:.1f} %, "
                f"test @10% {100 * row['test_top1_10pct_mean']:.1f} %, {row['run_s'] / 60:.1f} min",
                flush=True,
            )
    print(json.dumps({"base": args.base, "runs": table}))


if __name__ == "__main__":
    main()
