"""FineTuner: the pretrained encoder fine-tuned into a classifier, scored on few labels and exported.

It reads the ingested examples as SupervisedBaseline does (label ids and content hashes first, then
the chosen images, stored on the fly by the Transform graph) and the Trainer's final checkpoint
(``model_run``). For each fraction of ``finetune.label_fractions`` and each label draw it fine-tunes
on the same images the linear probes label (``linear_probe.stratified_subset``, keyed by content
hash) and scores the result on the evaluation split at the serving size. Then it fine-tunes on every
labelled train image and exports that classifier (``trainer/export.py``: image bytes in, class
probabilities and names out) into ``model`` (``Format-Serving``), with metrics.json in ``evaluation``.
Images of the unlabelled split are never read here: fine-tuning uses only ``train``'s labels.
"""

import json
import os

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft

from components.evaluation import labelled_examples, supervised_baseline
from components.evaluation.linear_probe import stratified_subset, subset_digest
from components.private_apis import InputArtifact, OutputArtifact, Parameter, component, standard_artifacts
from shared import contract, uri_io
from shared.records import BlessingMetric, FinetuneMetrics, ProbeSummary
from trainer import finetune, supervised
from trainer.config import FinetuneConfig, Section, TrainingConfig
from trainer.export import export_classifier
from trainer.train import FINAL_CHECKPOINT


class FinetuneSettings(Section):
    """What the pipeline sends FineTuner (as JSON): the splits, the pretraining's settings and fine-tuning's."""

    train_split: str = contract.TRAIN_SPLIT
    eval_split: str
    training: TrainingConfig
    finetune: FinetuneConfig


def property_name(fraction: str) -> str:
    return f"finetuned_top1_{100 * float(fraction):g}pct_mean"


class _LabelledData:
    """The train split's label ids and content hashes, the channel statistics and the stored test images."""

    def __init__(self, examples_uri: str, transform_graph_uri: str, settings: FinetuneSettings):
        self.transform_layer = tft.TFTransformOutput(transform_graph_uri).transform_features_layer()
        self.train_files = labelled_examples.split_files(examples_uri, settings.train_split)
        test_files = labelled_examples.split_files(examples_uri, settings.eval_split)
        self.train_labels, self.train_hashes = supervised_baseline.labels_and_keys(self.train_files)
        self.channel_stats = supervised_baseline.channel_statistics(self.train_files, self.transform_layer)
        self.test_count = len(supervised_baseline.labels_and_keys(test_files)[0])
        self.test_images = supervised_baseline.stored_images(test_files, self.transform_layer)
        if self.test_count <= supervised.CACHED_IMAGES:  # stored once for every classifier's score
            self.test_images = self.test_images.cache()

    def train_images(self, subset=None) -> tf.data.Dataset:
        keys = None if subset is None else self.train_hashes[subset]
        return supervised_baseline.stored_images(self.train_files, self.transform_layer, keys)


def serving_size(settings: FinetuneSettings) -> int:
    return settings.finetune.serving_size or settings.training.encoder.serving_size


def heldout_top1(data: _LabelledData, settings: FinetuneSettings, classifier, subset) -> float:
    """Top-1 on the train images outside ``subset``: a score that never looks at the evaluation split."""
    outside = np.setdiff1d(np.arange(len(data.train_labels)), subset)
    images = supervised_baseline.stored_images(data.train_files, data.transform_layer, data.train_hashes[outside])
    return supervised.accuracy(classifier, images, serving_size(settings))


def finetune_and_score(data: _LabelledData, settings: FinetuneSettings, checkpoint: str, classes, subset, draw):
    """(classifier, test top-1) of the classifier fine-tuned on the train images ``subset`` (None: all)."""
    count = len(data.train_labels) if subset is None else len(subset)
    classifier = finetune.finetune(
        settings.training,
        settings.finetune,
        checkpoint,
        data.channel_stats,
        data.train_images(subset),
        count,
        len(classes),
        draw,
    )
    return classifier, supervised.accuracy(classifier, data.test_images, serving_size(settings))


def evaluate_and_export(
    examples_uri: str, transform_graph_uri: str, checkpoint: str, classes, settings: FinetuneSettings, export_dir: str
) -> FinetuneMetrics:
    """Fine-tunes and scores per label fraction and draw, then exports the classifier of every label."""
    data = _LabelledData(examples_uri, transform_graph_uri, settings)
    results = {}
    for fraction in settings.finetune.label_fractions:
        accuracies, heldout, digests, used, steps = [], [], [], 0, 0
        for draw in range(settings.finetune.label_draws):
            subset = stratified_subset(data.train_labels, fraction, draw, data.train_hashes)
            classifier, top1 = finetune_and_score(data, settings, checkpoint, classes, subset, draw)
            accuracies.append(top1)
            heldout.append(heldout_top1(data, settings, classifier, subset))
            digests.append(subset_digest(data.train_hashes[subset]))
            used, steps = len(subset), int(classifier.optimizer.iterations)
        results[f"{fraction:g}"] = ProbeSummary(
            label_fraction=fraction,
            labels_used=used,
            steps=steps,  # whole progress epochs: steps_for(used) rounded up to a multiple of its tenth
            top1_mean=float(np.mean(accuracies)),
            top1_sd=float(np.std(accuracies)),
            top1_per_draw=accuracies,
            heldout_top1_per_draw=heldout,
            subset_digests=digests,
        )
    classifier, top1 = finetune_and_score(data, settings, checkpoint, classes, None, settings.training.random_state)
    export_classifier(classifier, classes, transform_graph_uri, serving_size(settings), export_dir)
    return FinetuneMetrics(
        finetuned=results,
        exported_top1=top1,
        exported_labels=int(len(data.train_labels)),
        blessing_metric=BlessingMetric(label_fraction=1.0, top1_mean=top1),
        classes=list(classes),
        train_images=int(len(data.train_labels)),
        test_images=int(data.test_count),
        settings=settings.finetune.model_dump(mode="json"),
    )


@component
def FineTuner(
    examples: InputArtifact[standard_artifacts.Examples],
    transform_graph: InputArtifact[standard_artifacts.TransformGraph],
    model_run: InputArtifact[standard_artifacts.ModelRun],
    model: OutputArtifact[standard_artifacts.Model],
    evaluation: OutputArtifact[standard_artifacts.ModelEvaluation],
    settings: Parameter[str],
) -> None:
    """The classifier SavedModel in ``model`` (``Format-Serving``), its figures in ``evaluation`` (metrics.json).

    ``examples`` are ImageExampleGen's; ``transform_graph`` stores their images; ``model_run`` holds the
    Trainer's final checkpoint.
    """
    classes = json.loads(examples.get_string_custom_property("classes"))
    metrics = evaluate_and_export(
        examples.uri,
        transform_graph.uri,
        uri_io.join(model_run.uri, FINAL_CHECKPOINT),
        classes,
        FinetuneSettings.model_validate_json(settings),
        os.path.join(model.uri, contract.SERVING_DIR),
    )
    tf.io.gfile.makedirs(evaluation.uri)
    metrics.write(os.path.join(evaluation.uri, contract.FINETUNE_METRICS_FILE))
    evaluation.set_float_custom_property("exported_top1", metrics.exported_top1)
    for fraction, result in metrics.finetuned.items():
        evaluation.set_float_custom_property(property_name(fraction), result.top1_mean)
