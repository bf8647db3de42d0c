"""Linear evaluation of frozen features: few-label logistic-regression probes and a kNN check.

Features are L2-normalised. For each label fraction and seed, a stratified subset
of the train labels is drawn without replacement (keyed by content hash, so the
same seed labels the same images on every run); a multinomial logistic
regression is fitted on it, its regularisation chosen by stratified
cross-validation inside that subset (never on test), and scored on test.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Dict, List, Optional, Sequence

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from trainer.knn import knn_accuracy

REGULARISATION_GRID = (0.1, 1.0, 10.0, 100.0)  # inverse strength C of the L2 penalty
MAX_FOLDS = 3


def l2_normalise(features: np.ndarray) -> np.ndarray:
    return features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)


def stratified_subset(labels: np.ndarray, fraction: float, seed: int, keys: Optional[np.ndarray] = None) -> np.ndarray:
    """Indices of about ``fraction`` of each class (at least 2 per class), drawn without replacement.

    ``keys`` (a stable identity per example, such as its content hash) make the draw and the order of the
    result depend only on which examples there are, not on the order they were read in: a seed then gives
    the same labelled images, in the same order, on every run. Without keys, both follow the indices.
    """
    rng = np.random.default_rng(seed)
    order = np.argsort(keys, kind="stable") if keys is not None else np.arange(len(labels))
    ordered_labels = labels[order]
    chosen = []  # positions in key order
    for label in np.unique(labels):
        members = np.flatnonzero(ordered_labels == label)
        count = min(len(members), max(2, int(round(fraction * len(members)))))
        chosen.append(rng.choice(members, size=count, replace=False))
    return order[np.sort(np.concatenate(chosen))]


def subset_digest(keys: Sequence[bytes]) -> str:
    """A short fingerprint of a set of labelled examples, from their keys in any order: same images, same digest."""
    return hashlib.sha256(b"\n".join(sorted(keys))).hexdigest()[:16]


def fit_probe(features: np.ndarray, labels: np.ndarray, seed: int) -> LogisticRegression:
    """Logistic regression with C chosen by stratified k-fold cross-validation on the given labels only."""
    folds = min(MAX_FOLDS, int(np.bincount(labels)[np.unique(labels)].min()))
    probe = LogisticRegression(max_iter=2000)
    search = GridSearchCV(
        probe, {"C": list(REGULARISATION_GRID)},
        cv=StratifiedKFold(folds, shuffle=True, random_state=seed), scoring="accuracy",
    )
    return search.fit(features, labels).best_estimator_


@dataclasses.dataclass
class ProbeResult:
    fraction: float
    accuracies: List[float]
    chosen_c: List[float]
    labels_used: int
    predictions: np.ndarray  # test predictions of the first seed
    subset_digests: List[str]  # per seed, when the examples have keys

    def summary(self) -> Dict:
        return {
            "label_fraction": self.fraction, "labels_used": self.labels_used,
            "top1_mean": float(np.mean(self.accuracies)), "top1_sd": float(np.std(self.accuracies)),
            "top1_per_seed": [float(a) for a in self.accuracies], "chosen_c": self.chosen_c,
            "subset_digests": self.subset_digests,
        }


def linear_probe(train_x, train_y, test_x, test_y, fraction: float, seeds: Sequence[int],
                 train_keys: Optional[np.ndarray] = None) -> ProbeResult:
    train_x, test_x = l2_normalise(train_x), l2_normalise(test_x)
    accuracies, chosen, digests, predictions, used = [], [], [], None, 0
    for seed in seeds:
        subset = stratified_subset(train_y, fraction, seed, train_keys)
        if train_keys is not None:
            digests.append(subset_digest(train_keys[subset]))
        probe = fit_probe(train_x[subset], train_y[subset], seed)
        predicted = probe.predict(test_x)
        accuracies.append(float(np.mean(predicted == test_y)))
        chosen.append(float(probe.C))
        used = len(subset)
        if predictions is None:
            predictions = predicted
    return ProbeResult(fraction, accuracies, chosen, used, predictions, digests)


def evaluate_features(train_x, train_y, test_x, test_y, fractions: Sequence[float], seeds: Sequence[int],
                      knn_k: int = 20, train_keys: Optional[np.ndarray] = None) -> Dict:
    """All probes plus kNN; returns the metrics and each fraction's first-seed test predictions."""
    results = {fraction: linear_probe(train_x, train_y, test_x, test_y, fraction, seeds, train_keys)
               for fraction in fractions}
    return {
        "linear": {f"{fraction:g}": result.summary() for fraction, result in results.items()},
        "knn_top1": knn_accuracy(train_x, train_y, test_x, test_y, k=knn_k),
        "predictions": {f"{fraction:g}": result.predictions for fraction, result in results.items()},
    }
