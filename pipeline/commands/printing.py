"""Everything the commands print for people (``--json`` prints the same results as one JSON object)."""

from __future__ import annotations

import json
from typing import Any, Dict, List

from shared.records import RegistryVersion


def ingest_table(summary: Dict[str, Any]) -> None:
    """Classes, written and rejected files per split, then every rejected, warned, ignored and duplicate file."""
    print(f"classes: {', '.join(summary['classes'])}")
    print(f"{'split':<12}{'written':>10}{'rejected':>10}")
    for split, counts in summary["splits"].items():
        folder = summary["split_folders"].get(split)
        print(
            f"{split:<12}{counts['written']:>10}{counts['rejected']:>10}"
            + (f"  (from folder {folder}/)" if folder and folder != split else "")
        )
    for rejected in summary["rejected"]:
        print(f"rejected {rejected['path']}: {rejected['reason']}")
    for warning in summary["warnings"]:
        print(f"written with a warning {warning['path']}: {warning['reason']}")
    for ignored in summary["ignored"]:
        print(f"ignored {ignored['path']}: {ignored['reason']}")
    for group in summary["duplicates"]:
        where = ", ".join(f"{c['split']}/{c['path']}" for c in group["copies"])
        leak = " (in more than one split: train/test leakage)" if len({c["split"] for c in group["copies"]}) > 1 else ""
        print(f"duplicate images{leak}: {where}")
    print(f"examples: {summary['output']}")


def run_summary(summary: Dict[str, Any]) -> None:
    """A local run: ingestion, pretraining, the probes, and what was pushed (or why nothing)."""
    if summary.get("skipped"):
        print(f"nothing to do, nothing pushed: {summary['reason']}")
        return
    ingest_table(summary)
    pretraining = summary["pretraining"]
    last = pretraining["final_epoch"]
    if last:
        knn = f", kNN top-1 {last['knn_top1']:.3f}" if "knn_top1" in last else ""
        print(
            f"pretraining: epoch {last['epoch']}, loss {last['loss']:.4f}, contrastive top-1 "
            f"{last['contrastive_accuracy']:.3f}{knn}"
        )
    else:
        print("pretraining: none (epochs: 0), the encoder is untrained")
    print(f"encoder (SavedModel): {pretraining['model']}")
    for fraction, probe in summary["metrics"]["linear"].items():
        supervised = summary["metrics"].get("supervised_baseline", {}).get(fraction)
        beside = f" (supervised from scratch: {100 * supervised['top1_mean']:.1f} %)" if supervised else ""
        print(
            f"linear eval, {float(fraction):.0%} labels: top-1 {100 * probe['top1_mean']:.1f} "
            f"± {100 * probe['top1_sd']:.1f} %{beside}"
        )
    print(f"kNN (k=20) top-1: {100 * summary['metrics']['knn_top1']:.1f} %")
    for kind in ("finetuned", "distilled"):
        for fraction, result in summary["metrics"].get(kind, {}).items():
            print(
                f"{'fine-tuned' if kind == 'finetuned' else kind}, {float(fraction):.0%} labels: top-1 "
                f"{100 * result['top1_mean']:.1f} ± {100 * result['top1_sd']:.1f} %"
            )
    classifier = summary["metrics"].get("classifier")
    if classifier:
        taught = f", distilled on {classifier['distilled_images']} images" if classifier["distilled_images"] else ""
        print(
            f"classifier (SavedModel, fine-tuned on all {classifier['labels_used']} train labels{taught}, "
            f"test top-1 {100 * classifier['top1']:.1f} %): {classifier['model']}"
        )
        pushed = (
            f"version {classifier['version']} of {classifier['registry']}" if classifier["version"] else "not pushed"
        )
        print(f"classifier: {pushed} ({'; '.join(classifier['reasons'])})")
    print(f"report: {summary['report']}")
    reasons = "; ".join(summary["blessing"]["reasons"])
    if summary["version"] and not summary["pushed_this_run"]:
        print(f"nothing changed since this model was pushed as version {summary['version']} to {summary['registry']}")
    elif summary["version"]:
        print(f"blessed ({reasons}): pushed version {summary['version']} to {summary['registry']}")
    else:
        print(f"not pushed: {reasons}")


def registry_versions(registry: str, rows: List[RegistryVersion]) -> None:
    print(f"{'version':<9}{'top-1':>8}  {'pushed at':<27}aliases")
    for row in rows:
        top1 = "" if row.top1 is None else f"{100 * row.top1:.1f}"
        print(f"{row.version:<9}{top1:>8}  {row.created or '':<27}{','.join(row.aliases)}")
    if not rows:
        print(f"no versions of {registry}")


def json_lines(rows: List[Dict[str, Any]]) -> None:
    for row in rows:
        print(json.dumps(row))


def request(method: str, body: Dict[str, Any]) -> None:
    """A Vertex AI request that ``--dry-run`` shows instead of sending."""
    print(json.dumps({"request": method, "body": body}, indent=2))
