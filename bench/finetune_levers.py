"""Benchmark: fine-tuning and distillation settings, chosen on held-out train labels, never on test.

For one finished `simclr-tfx run` (its examples, Transform graph and the Trainer's final checkpoint)
it runs FineTuner's scoring (`components/classifier/finetuner.py` `score_fraction`) once per
variant: fine-tune on each label draw's subset (and, with `distill`, distil a student on every train
and unlabelled image), then score on the train images outside the subset (`heldout`, the figure to
choose by) and on test (beside it). Variants are `finetune:` settings over the base config's:
  shipped:   the base config's `finetune` as it is;
  distill:   plus `distill: {}` (SimCLR v2 self-distillation, 10 epochs at temperature 1);
  distill_long: plus `distill: {epochs: 30}`;
  lp_ft:     plus `probe_steps: 100` (LP-FT: the linear layer alone first, Kumar et al. 2022);
  lp_ft_300: plus `probe_steps: 300`;
  crops_96:  plus `image_size: 96, serving_size: 96` (fine-tuned on larger crops, served at their size);
  crops_128: plus `image_size: 128, serving_size: 128` (the same, for `long`, pretrained on 96 px crops).
Writes bench/results/finetune_levers.json (reruns add to it; keyed config, then variant@fraction); the
last line printed is the config's variants as JSON.

    python bench/finetune_levers.py RUN_OUTPUT [--config local] [--variants distill] [--fraction 0.1] [--draws 2]
                                   [--trainer ID]

--trainer picks a Trainer execution in the run's MLMD store (default: the newest), read with the examples and
Transform graph it was trained from (bench/run_artifacts.py).
"""

import argparse
import json
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from trainer import runtime  # noqa: E402

runtime.configure()

import numpy as np  # noqa: E402
from run_artifacts import config_name, trainer_artifacts  # noqa: E402

from components.classifier.finetuner import Classifiers, FinetuneSettings, score_fraction  # noqa: E402
from components.evaluation.labelled_examples import LabelledSplits  # noqa: E402
from pipeline.config import load_config  # noqa: E402
from shared import contract  # noqa: E402
from trainer.train import FINAL_CHECKPOINT  # noqa: E402

RESULTS = pathlib.Path(__file__).parent / "results"
VARIANTS = {
    "shipped": {},
    "distill": {"distill": {}},
    "distill_long": {"distill": {"epochs": 30}},
    "lp_ft": {"probe_steps": 100},
    "lp_ft_300": {"probe_steps": 300},
    "crops_96": {"image_size": 96, "serving_size": 96},
    "crops_128": {"image_size": 128, "serving_size": 128},
}


def merged(settings: dict, variant: dict) -> dict:
    """``variant`` over ``settings``, a section over the section it names (a config's own distill stays)."""
    return {
        key: {**(settings.get(key) or {}), **value} if isinstance(value, dict) else value
        for key, value in {**settings, **variant}.items()
    }


def figures(kind: str, summary) -> dict:
    """A ProbeSummary's held-out and test top-1 (mean and per draw) and steps, keyed ``<kind>_...``."""
    if summary is None:
        return {f"{kind}_heldout_top1_mean": None, f"{kind}_test_top1_mean": None}
    return {
        f"{kind}_heldout_top1_mean": round(float(np.mean(summary.heldout_top1_per_draw)), 4),
        f"{kind}_heldout_top1_per_draw": [round(value, 4) for value in summary.heldout_top1_per_draw],
        f"{kind}_test_top1_mean": round(summary.top1_mean, 4),
        f"{kind}_test_top1_per_draw": [round(value, 4) for value in summary.top1_per_draw],
        f"{kind}_steps": summary.steps,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_output", type=pathlib.Path)
    parser.add_argument("--config", default="", help="the run's config, a name or file (default: local; --tiny: smoke)")
    parser.add_argument("--variants", default="distill")
    parser.add_argument("--fraction", type=float, default=0.1)
    parser.add_argument("--draws", type=int, default=2)
    parser.add_argument("--trainer", type=int, default=0, help="a Trainer execution ID (default: the newest)")
    parser.add_argument(
        "--tiny", action="store_true", help="the smoke config, distillation, one draw; writes no results"
    )
    args = parser.parse_args()
    args.config = config_name(args.config, args.tiny)
    if args.tiny:
        args.variants, args.draws, args.fraction = "distill", 1, 0.5
    config = load_config(args.config)
    run = trainer_artifacts(args.run_output, args.trainer)
    checkpoint = str(pathlib.Path(run.model_run) / FINAL_CHECKPOINT)
    data = LabelledSplits(run.examples, run.transform_graph, contract.TRAIN_SPLIT, config.eval_split)
    classes = json.loads((pathlib.Path(run.examples) / contract.INGEST_REPORT_FILE).read_text())["classes"]
    path = RESULTS / "finetune_levers.json"
    results = json.loads(path.read_text()) if path.exists() and not args.tiny else {}
    for name in args.variants.split(","):
        finetune = config.finetune.model_copy(update={"label_draws": args.draws}) if config.finetune else None
        settings = FinetuneSettings.model_validate(
            {
                "eval_split": config.eval_split,
                "training": config.training.model_dump(),
                "finetune": merged(finetune.model_dump(), VARIANTS[name]),
            }
        )
        finetuned, distilled = score_fraction(Classifiers(data, settings, checkpoint, len(classes)), args.fraction)
        row = {**figures("finetuned", finetuned), **figures("distilled", distilled)}
        results.setdefault(args.config, {})[f"{name}@{args.fraction:g}"] = row
        if not args.tiny:
            RESULTS.mkdir(exist_ok=True)
            path.write_text(json.dumps(results, indent=2))
        print(f"{name}: {json.dumps(row)}", file=sys.stderr, flush=True)
    print(json.dumps({"config": args.config, "variants": results[args.config]}))


if __name__ == "__main__":
    main()
