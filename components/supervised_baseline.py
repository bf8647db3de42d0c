"""SupervisedBaseline: what the labels achieve without pretraining, beside what pretraining adds.

It reads the ingested examples as LinearEval does (components/labelled_examples.py) and
stores each image as the Transform graph stores it for pretraining. For each label fraction
of the linear probes it labels the same images as the probes (``linear_probe.stratified_subset``
keyed by content hash, seeds 0, 1, ...; ``subset_digests`` in both metrics show it), trains the
pretraining's encoder architecture from scratch on each with the same augmentations
(trainer/supervised.py) and scores it on the evaluation split at the serving size.
metrics.json goes into its artifact, and each fraction's mean top-1 becomes an MLMD custom
property; LinearEval puts the figures beside its probes.
"""

import json
import os
from typing import Dict, Tuple

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import standard_artifacts

from components import image_decoding, labelled_examples
from components.linear_probe import stratified_subset, subset_digest
from trainer import preprocessing, supervised, uri_io
from trainer.config import SupervisedBaselineConfig, TrainingConfig

METRICS_FILE = "metrics.json"


def property_name(fraction: str) -> str:
    return f"supervised_top1_{100 * float(fraction):g}pct_mean"


def stored_split(transform_layer, examples_uri: str, split: str) -> Tuple[np.ndarray, ...]:
    """(stored PNG bytes, label ids, content hashes, channel mean, channel std) of a split's ingested examples."""
    outputs = (preprocessing.IMAGE, preprocessing.CHANNEL_MEAN, preprocessing.CHANNEL_STD)

    def store(images):
        stored = transform_layer({image_decoding.IMAGE_KEY: tf.reshape(images, [-1, 1])})
        return {name: stored[name].numpy() for name in outputs}

    split_arrays = labelled_examples.read_split(examples_uri, split, store)
    # The Transform analysers' statistics are the same on every record.
    return (split_arrays[preprocessing.IMAGE].reshape([-1]), split_arrays[image_decoding.LABEL_ID_KEY],
            split_arrays[image_decoding.HASH_KEY], split_arrays[preprocessing.CHANNEL_MEAN][0],
            split_arrays[preprocessing.CHANNEL_STD][0])


def evaluate_baseline(examples_uri: str, transform_graph_uri: str, num_classes: int, settings: Dict) -> Dict:
    """Trains and scores one classifier per label fraction and seed; returns the metrics."""
    training = TrainingConfig.model_validate(settings["training"])
    baseline = SupervisedBaselineConfig.model_validate(settings["supervised_baseline"])
    transform_layer = tft.TFTransformOutput(transform_graph_uri).transform_features_layer()
    train_images, train_labels, train_hashes, *channel_stats = stored_split(
        transform_layer, examples_uri, settings["train_split"])
    test_images, test_labels, *_ = stored_split(transform_layer, examples_uri, settings["eval_split"])
    results = {}
    for fraction in settings["label_fractions"]:
        accuracies, digests, used, steps = [], [], 0, 0
        for seed in range(baseline.seeds):
            subset = stratified_subset(train_labels, fraction, seed, train_hashes)
            classifier = supervised.train_from_scratch(
                training, baseline, channel_stats, train_images[subset], train_labels[subset], num_classes, seed)
            accuracies.append(supervised.accuracy(classifier, test_images, test_labels, training.encoder.serving_size))
            digests.append(subset_digest(train_hashes[subset]))
            used = len(subset)
            # Whole progress epochs: baseline.steps rounded up to a multiple of its tenth.
            steps = int(classifier.optimizer.iterations)
        results[f"{fraction:g}"] = {
            "label_fraction": fraction, "labels_used": used, "steps": steps,
            "top1_mean": float(np.mean(accuracies)), "top1_sd": float(np.std(accuracies)),
            "top1_per_seed": accuracies, "subset_digests": digests,
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
    """The encoder trained from scratch on the probes' labelled images; metrics.json in `baseline`.

    ``examples`` are the ingested examples (as LinearEval reads them); ``transform_graph`` stores their images.
    """
    num_classes = len(json.loads(examples.get_string_custom_property("classes")))
    metrics = evaluate_baseline(examples.uri, transform_graph.uri, num_classes, json.loads(settings))
    tf.io.gfile.makedirs(baseline.uri)
    uri_io.write_json(os.path.join(baseline.uri, METRICS_FILE), metrics)
    for fraction, result in metrics["supervised"].items():
        baseline.set_float_custom_property(property_name(fraction), result["top1_mean"])
