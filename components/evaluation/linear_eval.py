"""LinearEval: how good is the pretrained encoder? Frozen features, few labels.

It reads the Embedder's shards (the exported SavedModel served on every ingested image,
exactly as a user of the registry would call it), then fits linear probes on 1 %, 10 %
and 100 % of the train labels over several label draws (components/evaluation/linear_probe.py) and a kNN
classifier, streaming the train split block by block. Into its artifact go metrics.json
(also set as MLMD custom properties), a t-SNE PNG of at most ``TSNE_MAX_POINTS`` test
features, the confusion matrix of the blessing probe (PNG and CSV), the pretraining loss
curve and a one-page report.md that links them. Given SupervisedBaseline's output,
it adds the encoder trained from scratch on the same label fractions beside the probes.
"""

import json
import os
from typing import Dict, List, Optional

import numpy as np
import tensorflow as tf
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE
from sklearn.metrics import confusion_matrix

from components.evaluation import embeddings, linear_probe, supervised_baseline
from components.evaluation.settings import LinearEvalSettings
from components.private_apis import InputArtifact, OutputArtifact, Parameter, component, standard_artifacts
from shared import contract, plots, uri_io
from shared.records import BaselineMetrics, BlessingMetric, EvaluationMetrics, ProbeSummary

CONFUSION_PNG = "confusion_matrix.png"
CONFUSION_CSV = "confusion_matrix.csv"  # rows: true class, columns: predicted class, header: class names
TSNE_MAX_POINTS = 10_000
TSNE_PCA_DIMENSIONS = 50


def tsne_points(features: np.ndarray, labels: np.ndarray, random_state: int = 0):
    """(points [m, 2], labels [m]) of a t-SNE of at most TSNE_MAX_POINTS sampled features [n, d], after PCA to 50."""
    if len(labels) > TSNE_MAX_POINTS:
        chosen = np.sort(np.random.default_rng(random_state).choice(len(labels), TSNE_MAX_POINTS, replace=False))
        features, labels = features[chosen], labels[chosen]
    features = linear_probe.l2_normalise(features)
    if min(features.shape) > TSNE_PCA_DIMENSIONS:
        features = PCA(TSNE_PCA_DIMENSIONS, random_state=random_state).fit_transform(features)
    tsne = TSNE(perplexity=min(30.0, len(labels) - 1.0), init="pca", random_state=random_state)
    points = tsne.fit_transform(features)
    return points, labels


def write_confusion_csv(path: str, matrix: np.ndarray, classes: List[str]) -> None:
    lines = ["true\\predicted," + ",".join(classes)]
    lines += [f"{name}," + ",".join(str(int(count)) for count in row) for name, row in zip(classes, matrix)]
    uri_io.write_text(path, "\n".join(lines) + "\n")


def _percent(result: ProbeSummary) -> str:
    return f"{100 * result.top1_mean:.1f} ± {100 * result.top1_sd:.1f}"


def write_report(path: str, metrics: EvaluationMetrics, settings: LinearEvalSettings) -> None:
    baseline = metrics.supervised_baseline
    rows = "\n".join(
        f"| {float(fraction):.0%} | {probe.labels_used} | {_percent(probe)} |"
        + (f" {_percent(baseline[fraction])} |" if baseline else "")
        for fraction, probe in metrics.linear.items()
    )
    header = "| labels | images labelled | test top-1 % (mean ± sd) |" + (
        " supervised from scratch, same labels: top-1 % |" if baseline else ""
    )
    rule = "|---|---|---|" + ("---|" if baseline else "")
    baseline_note = (
        f"\nThe last column trains the same encoder from scratch with the same augmentations on subsets drawn the "
        f"same way ({next(iter(baseline.values())).steps} steps each; see SupervisedBaseline's metrics.json).\n"
        if baseline
        else ""
    )
    text = f"""# Linear evaluation of the SimCLR encoder

Frozen {metrics.feature_dim}-d embeddings from the exported SavedModel (`serving_default`),
{metrics.train_images} train and {metrics.test_images} test images ({", ".join(metrics.classes)}).
Each probe is a multinomial logistic regression on L2-normalised features, its C chosen by
cross-validation inside the labelled subset; {settings.label_draws} stratified subsets per fraction.

{header}
{rule}
{rows}
{baseline_note}
kNN (k={settings.knn_k}, cosine, all train labels): **{100 * metrics.knn_top1:.1f} %**

- Data fingerprint: `{metrics.data_fingerprint or "unknown"}`
- Training config: `{settings.training.model_dump_json()}`

{"![pretraining loss](loss_curve.png)" if metrics.plots.get("loss_curve") else "(no pretraining: untrained encoder)"}

![confusion matrix]({os.path.basename(metrics.plots["confusion_matrix"])})

{"![t-SNE of the test features](tsne.png)" if metrics.plots.get("tsne") else ""}
"""
    uri_io.write_text(path, text)


def evaluate_encoder(
    embeddings_uri: str,
    model_run_uri: str,
    output_uri: str,
    classes: List[str],
    settings: LinearEvalSettings,
    data_fingerprint: Optional[str] = None,
    baseline: Optional[BaselineMetrics] = None,
) -> EvaluationMetrics:
    """Runs the whole evaluation into output_uri and returns the metrics.

    ``baseline``: SupervisedBaseline's figures, reported beside the probes'.

    Reads ``<embeddings_uri>/Split-<split>/`` shards: the evaluation split whole, the train split in blocks.
    """
    train_folder = os.path.join(embeddings_uri, f"Split-{settings.train_split}")
    train = embeddings.read_columns(train_folder, [embeddings.LABEL_COLUMN, embeddings.HASH_COLUMN])
    train_y = train[embeddings.LABEL_COLUMN]
    train_keys = np.array([key.encode() for key in train[embeddings.HASH_COLUMN]])
    test = embeddings.read_all(os.path.join(embeddings_uri, f"Split-{settings.eval_split}"))
    test_x, test_y = test.features.astype(np.float32), test.labels
    results = linear_probe.evaluate_features(
        lambda: ((block.features, block.labels) for block in embeddings.read_blocks(train_folder)),
        train_y,
        test_x,
        test_y,
        list(settings.label_fractions),
        list(range(settings.label_draws)),
        knn_k=settings.knn_k,
        train_keys=train_keys,
    )
    blessing_key = f"{settings.blessing_fraction:g}"
    tf.io.gfile.makedirs(output_uri)
    metrics = EvaluationMetrics(
        linear=results.linear,
        knn_top1=results.knn_top1,
        blessing_metric=BlessingMetric(
            label_fraction=settings.blessing_fraction, top1_mean=results.linear[blessing_key].top1_mean
        ),
        classes=classes,
        feature_dim=int(test_x.shape[1]),
        train_images=int(len(train_y)),
        test_images=int(len(test_y)),
        data_fingerprint=data_fingerprint,
        plots=_plots(output_uri, model_run_uri, classes, settings, test_x, test_y, results.predictions[blessing_key]),
        supervised_baseline=baseline.supervised if baseline else None,
        pretraining=_last_epoch(model_run_uri),
    )
    metrics.write(os.path.join(output_uri, contract.EVALUATION_METRICS_FILE))
    write_report(os.path.join(output_uri, contract.EVALUATION_REPORT_FILE), metrics, settings)
    return metrics


def _plots(output_uri, model_run_uri, classes, settings, test_x, test_y, predicted) -> Dict[str, str]:
    """The confusion matrix of the blessing probe (PNG, CSV), a t-SNE of the test features and the loss curve."""
    found = {"confusion_matrix": os.path.join(output_uri, CONFUSION_PNG)}
    matrix = confusion_matrix(test_y, predicted, labels=range(len(classes)))
    write_confusion_csv(os.path.join(output_uri, CONFUSION_CSV), matrix, classes)
    title = f"linear probe, {settings.blessing_fraction:.0%} labels (first label draw)"
    plots.confusion_matrix(matrix, classes, found["confusion_matrix"], title)
    if settings.tsne and len(test_y) > 3:  # t-SNE needs perplexity < samples
        points, point_labels = tsne_points(test_x, test_y)
        found["tsne"] = os.path.join(output_uri, "tsne.png")
        plots.embedding_scatter(
            points, point_labels, classes, found["tsne"], f"t-SNE of {len(point_labels)} test embeddings"
        )
    loss_curve = os.path.join(model_run_uri, contract.LOSS_CURVE_FILE)
    if tf.io.gfile.exists(loss_curve):
        found["loss_curve"] = os.path.join(output_uri, contract.LOSS_CURVE_FILE)
        tf.io.gfile.copy(loss_curve, found["loss_curve"], overwrite=True)
    return found


def _last_epoch(model_run_uri: str) -> Optional[Dict]:
    history = os.path.join(model_run_uri, contract.HISTORY_FILE)
    return uri_io.read_json(history)[-1] if tf.io.gfile.exists(history) else None


@component
def LinearEval(
    examples: InputArtifact[standard_artifacts.Examples],
    embeddings: InputArtifact[standard_artifacts.Examples],
    model_run: InputArtifact[standard_artifacts.ModelRun],
    evaluation: OutputArtifact[standard_artifacts.ModelEvaluation],
    settings: Parameter[str],
    baseline: InputArtifact[standard_artifacts.ModelEvaluation] = None,
) -> None:
    """Linear probes and kNN on the frozen encoder; metrics.json, PNGs and report.md in `evaluation`.

    ``embeddings`` are the Embedder's shards; ``examples`` (ImageExampleGen's) give the class names and
    the data fingerprint; ``model_run`` the pretraining history and loss curve.

    ``baseline``, when given, is SupervisedBaseline's output; its figures join the report and metrics.
    """
    baseline_metrics = None
    if baseline is not None:
        baseline_metrics = BaselineMetrics.read(os.path.join(baseline.uri, contract.BASELINE_METRICS_FILE))
    classes = json.loads(examples.get_string_custom_property("classes"))
    metrics = evaluate_encoder(
        embeddings.uri,
        model_run.uri,
        evaluation.uri,
        classes,
        LinearEvalSettings.model_validate_json(settings),
        data_fingerprint=examples.get_string_custom_property(contract.INPUT_FINGERPRINT) or None,
        baseline=baseline_metrics,
    )
    for fraction, probe in metrics.linear.items():
        percent = f"{100 * float(fraction):g}pct"
        evaluation.set_float_custom_property(f"top1_{percent}_mean", probe.top1_mean)
        evaluation.set_float_custom_property(f"top1_{percent}_sd", probe.top1_sd)
    for fraction, result in (metrics.supervised_baseline or {}).items():
        evaluation.set_float_custom_property(supervised_baseline.property_name(fraction), result.top1_mean)
    evaluation.set_float_custom_property("knn_top1", metrics.knn_top1)
    evaluation.set_float_custom_property("blessing_top1", metrics.blessing_metric.top1_mean)
