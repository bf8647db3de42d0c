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
from typing import List, Optional

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft

from components.evaluation import labelled_examples
from components.evaluation.linear_probe import stratified_subset, subset_digest
from components.evaluation.settings import SupervisedBaselineSettings
from components.private_apis import InputArtifact, OutputArtifact, Parameter, component, standard_artifacts
from shared import contract
from shared.records import BaselineMetrics, ProbeSummary
from trainer import supervised

READ_BATCH = 64


def property_name(fraction: str) -> str:
    return f"supervised_top1_{100 * float(fraction):g}pct_mean"


def labels_and_keys(files: List[str]):
    """(label ids [n], content hashes [n]) of every example, in file order; the images are not kept."""
    labels, keys = [], []
    for batch in labelled_examples.read_examples(files).batch(4096):
        labels.append(batch[contract.LABEL_ID].numpy())
        keys.append(batch[contract.SHA256].numpy())
    return np.concatenate(labels), np.concatenate(keys)


def stored_images(files: List[str], transform_layer, chosen_keys: Optional[np.ndarray] = None) -> tf.data.Dataset:
    """(stored PNG bytes, label id) of the examples (those whose content hash is in ``chosen_keys``, when given),
    each image stored by the Transform graph as pretraining stores it."""
    examples = labelled_examples.read_examples(files)
    if chosen_keys is not None:
        chosen = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(tf.constant(chosen_keys), tf.ones(len(chosen_keys), tf.int64)), 0
        )
        examples = examples.filter(lambda example: chosen.lookup(example[contract.SHA256]) == 1)

    def store(batch):
        stored = transform_layer({contract.IMAGE_BYTES: tf.reshape(batch[contract.IMAGE_BYTES], [-1, 1])})
        return tf.reshape(stored[contract.IMAGE], [-1]), batch[contract.LABEL_ID]

    return examples.batch(READ_BATCH).map(store).unbatch()


def channel_statistics(files: List[str], transform_layer):
    """The channel mean and std the Transform analysers computed (the same on every record)."""
    first = next(iter(labelled_examples.read_examples(files[:1]).batch(1)))
    stored = transform_layer({contract.IMAGE_BYTES: tf.reshape(first[contract.IMAGE_BYTES], [-1, 1])})
    return stored[contract.CHANNEL_MEAN].numpy()[0], stored[contract.CHANNEL_STD].numpy()[0]


def evaluate_baseline(
    examples_uri: str, transform_graph_uri: str, num_classes: int, settings: SupervisedBaselineSettings
) -> BaselineMetrics:
    """Trains and scores one classifier per label fraction and label draw; returns the metrics."""
    training, baseline = settings.training, settings.supervised_baseline
    transform_layer = tft.TFTransformOutput(transform_graph_uri).transform_features_layer()
    train_files = labelled_examples.split_files(examples_uri, settings.train_split)
    test_files = labelled_examples.split_files(examples_uri, settings.eval_split)
    train_labels, train_hashes = labels_and_keys(train_files)
    channel_stats = channel_statistics(train_files, transform_layer)
    test_count = len(labels_and_keys(test_files)[0])
    test_images = stored_images(test_files, transform_layer)
    if test_count <= supervised.CACHED_IMAGES:  # stored once for every classifier's score
        test_images = test_images.cache()
    results = {}
    for fraction in settings.label_fractions:
        accuracies, digests, used, steps = [], [], 0, 0
        for draw in range(baseline.label_draws):
            subset = stratified_subset(train_labels, fraction, draw, train_hashes)
            classifier = supervised.train_from_scratch(
                training,
                baseline,
                channel_stats,
                stored_images(train_files, transform_layer, train_hashes[subset]),
                len(subset),
                num_classes,
                draw,
            )
            accuracies.append(supervised.accuracy(classifier, test_images, training.encoder.serving_size))
            digests.append(subset_digest(train_hashes[subset]))
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
        train_images=int(len(train_labels)),
        test_images=int(test_count),
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
