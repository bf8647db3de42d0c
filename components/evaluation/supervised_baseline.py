"""SupervisedBaseline: what the labels achieve without pretraining, beside what pretraining adds.

It reads the ingested examples in two streams: first only their label ids and content hashes
(about 90 MB at 1.28 M images), then, for each labelled subset, the chosen examples' images,
stored on the fly as the Transform graph stores them for pretraining. For each label fraction
of the linear probes it labels the same images as the probes (``linear_probe.stratified_subset``
keyed by content hash, label draws 0, 1, ...; ``subset_digests`` in both metrics show it), trains the
pretraining's encoder architecture from scratch on each with the same augmentations
(trainer/supervised.py) and scores it on the evaluation split at the serving size.
metrics.json goes into its artifact, and each fraction's mean top-1 becomes an MLMD custom
property; LinearEval puts the figures beside its probes.
"""

import json
import os

import numpy as np
import tensorflow as tf

from components.evaluation import labelled_examples
from components.evaluation.linear_probe import stratified_subset, subset_digest
from components.evaluation.settings import SupervisedBaselineSettings
from components.private_apis import InputArtifact, OutputArtifact, Parameter, component, standard_artifacts
from shared import contract
from shared.records import BaselineMetrics, ProbeSummary
from trainer import supervised


def property_name(fraction: str) -> str:
    return f"supervised_top1_{100 * float(fraction):g}pct_mean"


def evaluate_baseline(
    examples_uri: str, transform_graph_uri: str, num_classes: int, settings: SupervisedBaselineSettings
) -> BaselineMetrics:
    """Trains and scores one classifier per label fraction and label draw; returns the metrics."""
    training, baseline = settings.training, settings.supervised_baseline
    data = labelled_examples.LabelledSplits(
        examples_uri, transform_graph_uri, settings.train_split, settings.eval_split
    )
    results = {}
    for fraction in settings.label_fractions:
        accuracies, digests, used, steps = [], [], 0, 0
        for draw in range(baseline.label_draws):
            subset = stratified_subset(data.train_labels, fraction, draw, data.train_hashes)
            classifier = supervised.train_from_scratch(
                training, baseline, data.channel_stats, data.train_images(subset), len(subset), num_classes, draw
            )
            accuracies.append(supervised.accuracy(classifier, data.test_images, training.encoder.serving_size))
            digests.append(subset_digest(data.train_hashes[subset]))
            used = len(subset)
            # Whole progress epochs: baseline.steps rounded up to a multiple of its tenth.
            steps = int(classifier.optimizer.iterations)
        results[f"{fraction:g}"] = ProbeSummary(
            label_fraction=fraction,
            labels_used=used,
            steps=steps,
            top1_mean=float(np.mean(accuracies)),
            top1_sd=float(np.std(accuracies)),
            top1_per_draw=accuracies,
            subset_digests=digests,
        )
    return BaselineMetrics(
        supervised=results,
        train_images=int(len(data.train_labels)),
        test_images=data.test_count,
        settings=baseline.model_dump(mode="json"),
    )


@component
def SupervisedBaseline(
    examples: InputArtifact[standard_artifacts.Examples],
    transform_graph: InputArtifact[standard_artifacts.TransformGraph],
    baseline: OutputArtifact[standard_artifacts.ModelEvaluation],
    settings: Parameter[str],
) -> None:
    """The encoder trained from scratch on the probes' labelled images; metrics.json in `baseline`.

    ``examples`` are the ingested examples (as LinearEval reads them); ``transform_graph`` stores their images.
    """
    num_classes = len(json.loads(examples.get_string_custom_property("classes")))
    metrics = evaluate_baseline(
        examples.uri, transform_graph.uri, num_classes, SupervisedBaselineSettings.model_validate_json(settings)
    )
    tf.io.gfile.makedirs(baseline.uri)
    metrics.write(os.path.join(baseline.uri, contract.BASELINE_METRICS_FILE))
    for fraction, result in metrics.supervised.items():
        baseline.set_float_custom_property(property_name(fraction), result.top1_mean)
