"""SupervisedBaseline: what the labels achieve without pretraining, beside what pretraining adds.

For each label fraction of the linear probes it draws stratified subsets of the train
labels the same way the probes do (``linear_probe.stratified_subset``, seeds 0, 1, ...),
trains the pretraining's encoder architecture from scratch on each with the same
augmentations (trainer/supervised.py) and scores it on the evaluation split at the
serving size. metrics.json goes into its artifact, and each fraction's mean top-1
becomes an MLMD custom property; LinearEval puts the figures beside its probes.
"""

import json
import os
from typing import Dict

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import standard_artifacts

from components.linear_probe import stratified_subset
from trainer import data, preprocessing, supervised
from trainer.config import SupervisedBaselineConfig, TrainingConfig

METRICS_FILE = "metrics.json"


def property_name(fraction: str) -> str:
    return f"supervised_top1_{100 * float(fraction):g}pct_mean"


def evaluate_baseline(examples_uri: str, transform_graph_uri: str, settings: Dict) -> Dict:
    """Trains and scores one classifier per label fraction and seed; returns the metrics."""
    training = TrainingConfig.model_validate(settings["training"])
    baseline = SupervisedBaselineConfig.model_validate(settings["supervised_baseline"])
    transform_output = tft.TFTransformOutput(transform_graph_uri)
    feature_spec = transform_output.transformed_feature_spec()

    def files(split: str):
        return data.expand_patterns([os.path.join(examples_uri, f"Split-{split}", "*")])

    train_files = files(settings["train_split"])
    train_images, train_labels = data.encoded_images(train_files, feature_spec)
    test_images, test_labels = data.encoded_images(files(settings["eval_split"]), feature_spec)
    channel_stats = data.channel_statistics(train_files, feature_spec)
    num_classes = transform_output.vocabulary_size_by_name(preprocessing.LABEL_VOCABULARY)
    results = {}
    for fraction in settings["label_fractions"]:
        accuracies, used, steps = [], 0, 0
        for seed in range(baseline.seeds):
            subset = stratified_subset(train_labels, fraction, seed)
            classifier = supervised.train_from_scratch(
                training, baseline, channel_stats, train_images[subset], train_labels[subset], num_classes, seed)
            accuracies.append(supervised.accuracy(classifier, test_images, test_labels, training.encoder.serving_size))
            used = len(subset)
            # Whole progress epochs: baseline.steps rounded up to a multiple of its tenth.
            steps = int(classifier.optimizer.iterations)
        results[f"{fraction:g}"] = {
            "label_fraction": fraction, "labels_used": used, "steps": steps,
            "top1_mean": float(np.mean(accuracies)), "top1_sd": float(np.std(accuracies)),
            "top1_per_seed": accuracies,
        }
    return {"supervised": results, "train_images": int(len(train_labels)), "test_images": int(len(test_labels)),
            "settings": baseline.model_dump(mode="json")}


@component
def SupervisedBaseline(
    examples: InputArtifact[standard_artifacts.Examples],
    transform_graph: InputArtifact[standard_artifacts.TransformGraph],
    baseline: OutputArtifact[standard_artifacts.ModelEvaluation],
    settings: Parameter[str],
) -> None:
    """The encoder trained from scratch on the probes' label fractions; metrics.json in `baseline`."""
    metrics = evaluate_baseline(examples.uri, transform_graph.uri, json.loads(settings))
    tf.io.gfile.makedirs(baseline.uri)
    with tf.io.gfile.GFile(os.path.join(baseline.uri, METRICS_FILE), "w") as handle:
        json.dump(metrics, handle, indent=2)
    for fraction, result in metrics["supervised"].items():
        baseline.set_float_custom_property(property_name(fraction), result["top1_mean"])
