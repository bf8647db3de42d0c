"""LinearEval: how good is the pretrained encoder? Frozen features, few labels.

It serves the exported SavedModel on the ingested images (encoded bytes in,
embeddings out, exactly as a user of the registry would), then fits linear
probes on 1 %, 10 % and 100 % of the train labels over several seeds
(components/linear_probe.py) and a kNN classifier. Into its artifact go
metrics.json (also set as MLMD custom properties), a t-SNE PNG of the test
features, the confusion matrix of the blessing probe, the pretraining loss
curve and a one-page report.md that links them. Given SupervisedBaseline's output,
it adds the encoder trained from scratch on the same label fractions beside the probes.
"""


import json
import os
from typing import Dict, List, Tuple

import numpy as np
import tensorflow as tf
from sklearn.manifold import TSNE
from sklearn.metrics import confusion_matrix
from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import standard_artifacts

from components import image_decoding, labelled_examples, linear_probe, supervised_baseline
from trainer import plots, uri_io
from trainer.train import HISTORY_FILE, LOSS_CURVE_FILE

METRICS_FILE = "metrics.json"
REPORT_FILE = "report.md"
SERVING_DIR = "Format-Serving"


def serving_model_dir(model_uri: str) -> str:
    return os.path.join(model_uri, SERVING_DIR)


def embed_split(embed, examples_uri: str, split: str,
                batch_size: int = 64) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Embeddings, label ids and content hashes of every example in a split, through the serving signature."""
    split_arrays = labelled_examples.read_split(
        examples_uri, split, lambda images: {"embedding": embed(image_bytes=images)["embedding"].numpy()}, batch_size)
    return (split_arrays["embedding"], split_arrays[image_decoding.LABEL_ID_KEY],
            split_arrays[image_decoding.HASH_KEY])


def _percent(result: Dict) -> str:
    return f"{100 * result['top1_mean']:.1f} ± {100 * result['top1_sd']:.1f}"


def write_report(path: str, metrics: Dict, settings: Dict) -> None:
    baseline = metrics.get("supervised_baseline")
    rows = "\n".join(
        f"| {float(fraction):.0%} | {probe['labels_used']} | {_percent(probe)} |"
        + (f" {_percent(baseline[fraction])} |" if baseline else "")
        for fraction, probe in metrics["linear"].items()
    )
    header = "| labels | images labelled | test top-1 % (mean ± sd) |" + (
        " supervised from scratch, same labels: top-1 % |" if baseline else "")
    rule = "|---|---|---|" + ("---|" if baseline else "")
    baseline_note = (
        f"\nThe last column trains the same encoder from scratch with the same augmentations on subsets drawn the "
        f"same way ({next(iter(baseline.values()))['steps']} steps each; see SupervisedBaseline's metrics.json).\n"
        if baseline else "")
    text = f"""# Linear evaluation of the SimCLR encoder

Frozen {metrics['feature_dim']}-d embeddings from the exported SavedModel (`serving_default`),
{metrics['train_images']} train and {metrics['test_images']} test images ({', '.join(metrics['classes'])}).
Each probe is a multinomial logistic regression on L2-normalised features, its C chosen by
cross-validation inside the labelled subset; {settings['seeds']} stratified subsets per fraction.

{header}
{rule}
{rows}
{baseline_note}
kNN (k={settings['knn_k']}, cosine, all train labels): **{100 * metrics['knn_top1']:.1f} %**

- Data fingerprint: `{metrics.get('data_fingerprint') or 'unknown'}`
- Training config: `{json.dumps(settings.get('training', {}))}`

{'![pretraining loss](loss_curve.png)' if metrics['plots'].get('loss_curve') else '(no pretraining: untrained encoder)'}

![confusion matrix]({os.path.basename(metrics['plots']['confusion_matrix'])})

{'![t-SNE of the test features](tsne.png)' if metrics['plots'].get('tsne') else ''}
"""
    uri_io.write_text(path, text)


def evaluate_encoder(examples_uri: str, model_uri: str, model_run_uri: str, output_uri: str,
                     classes: List[str], settings: Dict) -> Dict:
    """Runs the whole evaluation into output_uri and returns the metrics."""
    embed = tf.saved_model.load(serving_model_dir(model_uri)).signatures["serving_default"]
    train_x, train_y, train_hashes = embed_split(embed, examples_uri, settings["train_split"])
    test_x, test_y, _ = embed_split(embed, examples_uri, settings["eval_split"])
    seeds = list(range(settings["seeds"]))
    results = linear_probe.evaluate_features(
        train_x, train_y, test_x, test_y, settings["label_fractions"], seeds, knn_k=settings["knn_k"],
        train_keys=train_hashes,
    )
    blessing_key = f"{settings['blessing_fraction']:g}"
    metrics = {
        "linear": results["linear"], "knn_top1": results["knn_top1"],
        "blessing_metric": {"label_fraction": settings["blessing_fraction"],
                            "top1_mean": results["linear"][blessing_key]["top1_mean"]},
        "classes": classes, "feature_dim": int(train_x.shape[1]),
        "train_images": int(len(train_y)), "test_images": int(len(test_y)),
        "data_fingerprint": settings.get("data_fingerprint"), "plots": {},
    }
    if settings.get("supervised_baseline"):
        metrics["supervised_baseline"] = settings["supervised_baseline"]
    tf.io.gfile.makedirs(output_uri)
    confusion_path = os.path.join(output_uri, "confusion_matrix.png")
    matrix = confusion_matrix(test_y, results["predictions"][blessing_key], labels=range(len(classes)))
    plots.confusion_matrix(matrix, classes, confusion_path,
                           f"linear probe, {settings['blessing_fraction']:.0%} labels (seed 0)")
    metrics["plots"]["confusion_matrix"] = confusion_path
    if settings.get("tsne", True) and len(test_y) > 3:  # t-SNE needs perplexity < samples
        points = TSNE(perplexity=min(30.0, len(test_y) - 1.0), init="pca", random_state=0).fit_transform(
            linear_probe.l2_normalise(test_x))
        metrics["plots"]["tsne"] = os.path.join(output_uri, "tsne.png")
        plots.embedding_scatter(points, test_y, classes, metrics["plots"]["tsne"], "t-SNE of test embeddings")
    loss_curve = os.path.join(model_run_uri, LOSS_CURVE_FILE)
    if tf.io.gfile.exists(loss_curve):
        tf.io.gfile.copy(loss_curve, os.path.join(output_uri, LOSS_CURVE_FILE), overwrite=True)
        metrics["plots"]["loss_curve"] = os.path.join(output_uri, LOSS_CURVE_FILE)
    history = os.path.join(model_run_uri, HISTORY_FILE)
    if tf.io.gfile.exists(history):
        metrics["pretraining"] = uri_io.read_json(history)[-1]
    uri_io.write_json(os.path.join(output_uri, METRICS_FILE), metrics)
    write_report(os.path.join(output_uri, REPORT_FILE), metrics, settings)
    return metrics


@component
def LinearEval(
    examples: InputArtifact[standard_artifacts.Examples],
    model: InputArtifact[standard_artifacts.Model],
    model_run: InputArtifact[standard_artifacts.ModelRun],
    evaluation: OutputArtifact[standard_artifacts.ModelEvaluation],
    settings: Parameter[str],
    baseline: InputArtifact[standard_artifacts.ModelEvaluation] = None,
) -> None:
    """Linear probes and kNN on the frozen encoder; metrics.json, PNGs and report.md in `evaluation`.

    ``baseline``, when given, is SupervisedBaseline's output; its figures join the report and metrics.
    """
    config = json.loads(settings)
    config["data_fingerprint"] = examples.get_string_custom_property("input_fingerprint") or None
    if baseline is not None:
        config["supervised_baseline"] = uri_io.read_json(
            os.path.join(baseline.uri, supervised_baseline.METRICS_FILE))["supervised"]
    classes = json.loads(examples.get_string_custom_property("classes"))
    metrics = evaluate_encoder(examples.uri, model.uri, model_run.uri, evaluation.uri, classes, config)
    for fraction, probe in metrics["linear"].items():
        percent = f"{100 * float(fraction):g}pct"
        evaluation.set_float_custom_property(f"top1_{percent}_mean", probe["top1_mean"])
        evaluation.set_float_custom_property(f"top1_{percent}_sd", probe["top1_sd"])
    for fraction, result in metrics.get("supervised_baseline", {}).items():
        evaluation.set_float_custom_property(supervised_baseline.property_name(fraction), result["top1_mean"])
    evaluation.set_float_custom_property("knn_top1", metrics["knn_top1"])
    evaluation.set_float_custom_property("blessing_top1", metrics["blessing_metric"]["top1_mean"])
