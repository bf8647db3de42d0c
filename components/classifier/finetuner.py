"""FineTuner: the pretrained encoder fine-tuned into a classifier, scored on few labels and exported.

It reads the ingested examples as SupervisedBaseline does (``LabelledSplits``) and the Trainer's final
checkpoint (``model_run``). For each fraction of ``finetune.label_fractions`` and each label draw it
fine-tunes on the images the linear probes label (``linear_probe.stratified_subset``, keyed by content
hash) and scores the result on the evaluation split at the serving size. With ``finetune.distill``
each fine-tuned classifier then teaches a student on every train and unlabelled image, labels unused
(``trainer/distill.py``), scored the same way. Last it fine-tunes on every labelled train image (and
distils that, with ``finetune.distill``) and exports the classifier (``trainer/export.py``: image bytes
in, class probabilities and names out) into ``model`` (``Format-Serving``), with metrics.json in
``evaluation``. Fine-tuning reads only ``train``'s labels; distillation reads no label at all.
"""

import json
import os
from typing import List, Optional, Tuple

import numpy as np
import tensorflow as tf

from components.evaluation.labelled_examples import LabelledSplits
from components.evaluation.linear_probe import stratified_subset, subset_digest
from components.private_apis import InputArtifact, OutputArtifact, Parameter, component, standard_artifacts
from shared import contract, uri_io
from shared.records import BlessingMetric, FinetuneMetrics, ProbeSummary
from trainer import distill, finetune, supervised
from trainer.config import FinetuneConfig, Section, TrainingConfig
from trainer.export import export_classifier
from trainer.train import FINAL_CHECKPOINT


class FinetuneSettings(Section):
    """What the pipeline sends FineTuner (as JSON): the splits, the pretraining's settings and fine-tuning's."""

    train_split: str = contract.TRAIN_SPLIT
    eval_split: str
    training: TrainingConfig
    finetune: FinetuneConfig


def property_name(fraction: str, kind: str = "finetuned") -> str:
    """The evaluation artifact's custom property of a fraction's mean top-1 (kind: finetuned or distilled)."""
    return f"{kind}_top1_{100 * float(fraction):g}pct_mean"


def serving_size(settings: FinetuneSettings) -> int:
    return settings.finetune.serving_size or settings.training.encoder.serving_size


class _Draws:
    """One label fraction's classifiers, draw by draw: test top-1, held-out train top-1, subset digest."""

    def __init__(self, fraction: float):
        self.fraction, self.used, self.steps = fraction, 0, 0
        self.top1: List[float] = []
        self.heldout: List[float] = []
        self.digests: List[str] = []

    def add(self, data: LabelledSplits, settings: FinetuneSettings, classifier, subset, steps: int) -> None:
        size = serving_size(settings)
        self.top1.append(supervised.accuracy(classifier, data.test_images, size))
        # Top-1 on the train images outside the subset: a score that never looks at the evaluation split.
        self.heldout.append(supervised.accuracy(classifier, data.train_images_outside(subset), size))
        self.digests.append(subset_digest(data.train_hashes[subset]))
        self.used, self.steps = len(subset), steps

    def summary(self) -> ProbeSummary:
        return ProbeSummary(
            label_fraction=self.fraction,
            labels_used=self.used,
            steps=self.steps,  # whole progress epochs: the steps asked for, rounded up to a multiple of its tenth
            top1_mean=float(np.mean(self.top1)),
            top1_sd=float(np.std(self.top1)),
            top1_per_draw=self.top1,
            heldout_top1_per_draw=self.heldout,
            subset_digests=self.digests,
        )


class Classifiers:
    """Fine-tuning (and distillation, with ``finetune.distill``) from the Trainer's checkpoint on LabelledSplits."""

    def __init__(self, data: LabelledSplits, settings: FinetuneSettings, checkpoint: str, num_classes: int):
        self.data, self.settings, self.checkpoint, self.num_classes = data, settings, checkpoint, num_classes
        self.distilling = settings.finetune.distill is not None
        self.student_images, self.student_count = data.train_images(), len(data.train_labels)
        if self.distilling:  # pretraining's images: train and unlabelled, the labels never read
            unlabelled, count = data.split_images(contract.UNLABELLED_SPLIT)  # counted only when needed
            if unlabelled is not None:
                self.student_images = self.student_images.concatenate(unlabelled)
                self.student_count += count

    def finetuned(self, subset, random_state: int):
        """The classifier fine-tuned on the train images at indices ``subset`` (None: all)."""
        count = len(self.data.train_labels) if subset is None else len(subset)
        images = self.data.train_images(subset)
        training, settings = self.settings.training, self.settings.finetune
        return finetune.finetune(
            training, settings, self.checkpoint, self.data.channel_stats, images, count, self.num_classes, random_state
        )

    def distilled(self, teacher, random_state: int):
        """The Distiller of a student taught by ``teacher`` on every train and unlabelled image."""
        training, settings = self.settings.training, self.settings.finetune
        return distill.distill(
            training,
            settings,
            teacher,
            self.checkpoint,
            self.data.channel_stats,
            self.student_images,
            self.student_count,
            random_state,
        )


def score_fraction(classifiers: Classifiers, fraction: float) -> Tuple[ProbeSummary, Optional[ProbeSummary]]:
    """(fine-tuned, distilled or None) classifiers of one label fraction, one per label draw, scored."""
    data, settings, distilling = classifiers.data, classifiers.settings, classifiers.distilling
    teachers, students = _Draws(fraction), _Draws(fraction)
    for draw in range(settings.finetune.label_draws):
        subset = stratified_subset(data.train_labels, fraction, draw, data.train_hashes)
        teacher = classifiers.finetuned(subset, draw)
        teachers.add(data, settings, teacher, subset, int(teacher.optimizer.iterations))
        if distilling:
            distiller = classifiers.distilled(teacher, draw)
            students.add(data, settings, distiller.student, subset, int(distiller.optimizer.iterations))
    return teachers.summary(), students.summary() if distilling else None


def evaluate_and_export(
    examples_uri: str, transform_graph_uri: str, checkpoint: str, classes, settings: FinetuneSettings, export_dir: str
) -> FinetuneMetrics:
    """Fine-tunes (and distils) and scores per label fraction and draw, then exports the classifier of every label."""
    data = LabelledSplits(examples_uri, transform_graph_uri, settings.train_split, settings.eval_split)
    classifiers = Classifiers(data, settings, checkpoint, len(classes))
    finetuned, distilled = {}, {}
    for fraction in settings.finetune.label_fractions:
        finetuned[f"{fraction:g}"], students = score_fraction(classifiers, fraction)
        if students is not None:
            distilled[f"{fraction:g}"] = students
    classifier = classifiers.finetuned(None, settings.training.random_state)
    if classifiers.distilling:
        classifier = classifiers.distilled(classifier, settings.training.random_state).student
    top1 = supervised.accuracy(classifier, data.test_images, serving_size(settings))
    export_classifier(classifier, classes, transform_graph_uri, serving_size(settings), export_dir)
    return FinetuneMetrics(
        finetuned=finetuned,
        distilled=distilled,
        exported_top1=top1,
        exported_labels=int(len(data.train_labels)),
        exported_distilled_images=classifiers.student_count if classifiers.distilling else 0,
        blessing_metric=BlessingMetric(label_fraction=1.0, top1_mean=top1),
        classes=list(classes),
        train_images=int(len(data.train_labels)),
        test_images=data.test_count,
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
    for kind in ("finetuned", "distilled"):
        for fraction, result in getattr(metrics, kind).items():
            evaluation.set_float_custom_property(property_name(fraction, kind), result.top1_mean)
