"""Typed settings of the evaluation components, passed to them as JSON (as ``TrainingConfig`` is to the Trainer).

The pipeline builds them from its config (``pipeline/pipeline.py``); each component validates
its own on arrival, so a renamed or missing setting fails by name rather than with a KeyError.
"""

from typing import Tuple

from pydantic import Field, PositiveInt

from trainer.config import Section, SupervisedBaselineConfig, TrainingConfig


class LabelledSplits(Section):
    """What the linear probes and the supervised baseline share: splits, label fractions, encoder settings."""

    train_split: str = "train"
    eval_split: str
    label_fractions: Tuple[float, ...]
    training: TrainingConfig


class LinearEvalSettings(LabelledSplits):
    label_draws: PositiveInt  # stratified subsets per fraction
    knn_k: PositiveInt
    tsne: bool
    blessing_fraction: float  # the probe whose top-1 the Blesser reads; one of label_fractions


class SupervisedBaselineSettings(LabelledSplits):
    supervised_baseline: SupervisedBaselineConfig = Field(default_factory=SupervisedBaselineConfig)
