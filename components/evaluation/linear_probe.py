"""Linear evaluation of frozen features: few-label logistic-regression probes and a kNN check.

Features are L2-normalised. For each label fraction and draw, a stratified subset
of the train labels is drawn without replacement (keyed by content hash, so the
same draw labels the same images on every run); a multinomial logistic
regression is fitted on it, its regularisation chosen by stratified
cross-validation inside that subset (never on test), and scored on test.

The train features are never all in memory: they arrive as blocks (``BlocksFn``, the
embedding shards read in order), and only the labels and keys of the train split are
held (about 90 MB at 1.28 M images). A subset of at most ``SKLEARN_MAX_LABELS`` images is
gathered and fitted with sklearn (lbfgs, k-fold CV); a larger one is fitted by a minibatch
softmax regression in TensorFlow with the same objective, streamed from the blocks, its C
chosen on one stratified held-out fold. The evaluation split is held in memory.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf
import tf_keras as keras
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from shared.records import ProbeSummary
from trainer import knn
from trainer.knn import BlocksFn, l2_normalise

SKLEARN_MAX_LABELS = 20_000  # labelled subsets up to this size are fitted in memory by sklearn
SOFTMAX_BATCH = 256
SOFTMAX_MIN_STEPS = 600
SOFTMAX_EPOCHS = 30
SHUFFLE_BUFFER = 16_384
REGULARISATION_GRID = (0.1, 1.0, 10.0, 100.0)  # inverse strength C of the L2 penalty
MAX_FOLDS = 3


def stratified_subset(labels: np.ndarray, fraction: float, draw: int, keys: Optional[np.ndarray] = None) -> np.ndarray:
    """Indices of about ``fraction`` of each class (at least 2 per class), drawn without replacement.

    ``keys`` (a stable identity per example, such as its content hash) make the draw and the order of the
    result depend only on which examples there are, not on the order they were read in: a draw then gives
    the same labelled images, in the same order, on every run. Without keys, both follow the indices.
    """
    rng = np.random.default_rng(draw)
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


def _mask(size: int, indices: np.ndarray) -> np.ndarray:
    mask = np.zeros(size, bool)
    mask[indices] = True
    return mask


def _selected(blocks: BlocksFn, size: int, indices: np.ndarray) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
    """The blocks' rows at ``indices`` (in reading order), as L2-normalised float32 blocks."""
    mask, offset = _mask(size, indices), 0
    for features, labels in blocks():
        chosen = mask[offset : offset + len(labels)]
        offset += len(labels)
        if chosen.any():
            yield l2_normalise(features[chosen]), np.asarray(labels[chosen], np.int64)


def gather(blocks: BlocksFn, size: int, indices: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """(features [m, d] float32 L2-normalised, labels [m]) of the rows at sorted ``indices``."""
    parts = list(_selected(blocks, size, indices))
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def fit_probe(features: np.ndarray, labels: np.ndarray, draw: int) -> LogisticRegression:
    """Logistic regression with C chosen by stratified k-fold cross-validation on the given labels only."""
    folds = min(MAX_FOLDS, int(np.bincount(labels)[np.unique(labels)].min()))
    probe = LogisticRegression(max_iter=2000)
    search = GridSearchCV(
        probe,
        {"C": list(REGULARISATION_GRID)},
        cv=StratifiedKFold(folds, shuffle=True, random_state=draw),
        scoring="accuracy",
    )
    return search.fit(features, labels).best_estimator_


class SoftmaxProbe:
    """Multinomial logistic regression fitted by minibatch Adam, for labelled subsets too large for sklearn.

    It minimises sklearn's objective divided by ``C n``: mean cross-entropy + ||W||^2 / (2 C n),
    the bias unpenalised. ``fit`` streams (features [b, d], labels [b]) blocks; ``predict`` takes [m, d].
    """

    def __init__(self, c: float, classes: int, draw: int):
        self.C, self.classes, self.draw = c, classes, draw
        self.kernel = self.bias = None

    def fit(self, blocks: BlocksFn, count: int, dim: int):
        dataset = tf.data.Dataset.from_generator(
            blocks, output_signature=(tf.TensorSpec([None, dim], tf.float32), tf.TensorSpec([None], tf.int64))
        )
        epochs = max(SOFTMAX_EPOCHS, -(-SOFTMAX_MIN_STEPS * SOFTMAX_BATCH // count))
        dataset = (
            dataset.unbatch()
            .shuffle(min(SHUFFLE_BUFFER, count), seed=self.draw)
            .repeat(epochs)
            .batch(SOFTMAX_BATCH)
            .prefetch(tf.data.AUTOTUNE)
        )
        tf.random.set_seed(self.draw)
        kernel = tf.Variable(tf.zeros([dim, self.classes]))
        bias = tf.Variable(tf.zeros([self.classes]))
        steps = epochs * -(-count // SOFTMAX_BATCH)
        optimizer = keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(0.05, steps))
        penalty = 1.0 / (2.0 * self.C * count)

        optimizer.build([kernel, bias])

        @tf.function
        def train():  # the whole loop in one graph: no Python call per step
            for features, labels in dataset:
                with tf.GradientTape() as tape:
                    logits = features @ kernel + bias
                    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))
                    loss += penalty * tf.reduce_sum(kernel**2)
                optimizer.apply_gradients(zip(tape.gradient(loss, [kernel, bias]), [kernel, bias]))

        train()
        self.kernel, self.bias = kernel.numpy(), bias.numpy()
        return self

    def predict(self, features: np.ndarray) -> np.ndarray:
        return np.argmax(features @ self.kernel + self.bias, axis=1)


def fit_streamed_probe(
    blocks: BlocksFn, size: int, labels: np.ndarray, subset: np.ndarray, classes: int, dim: int, draw: int
) -> SoftmaxProbe:
    """SoftmaxProbe on the rows at ``subset``; C chosen on one stratified fold held out of the subset."""
    fit_rows, held_rows = next(
        StratifiedKFold(MAX_FOLDS, shuffle=True, random_state=draw).split(subset, labels[subset])
    )
    held_x, held_y = gather(blocks, size, np.sort(subset[held_rows]))
    fit_subset = np.sort(subset[fit_rows])

    def accuracy(c):
        probe = SoftmaxProbe(c, classes, draw).fit(lambda: _selected(blocks, size, fit_subset), len(fit_subset), dim)
        return float(np.mean(probe.predict(held_x) == held_y))

    best = max(REGULARISATION_GRID, key=accuracy)  # the first of equals, as GridSearchCV
    return SoftmaxProbe(best, classes, draw).fit(lambda: _selected(blocks, size, subset), len(subset), dim)


@dataclasses.dataclass
class ProbeResult:
    fraction: float
    accuracies: List[float]
    chosen_c: List[float]
    labels_used: int
    predictions: np.ndarray  # test predictions of the first draw
    subset_digests: List[str]  # per draw, when the examples have keys

    def summary(self) -> ProbeSummary:
        return ProbeSummary(
            label_fraction=self.fraction,
            labels_used=self.labels_used,
            top1_mean=float(np.mean(self.accuracies)),
            top1_sd=float(np.std(self.accuracies)),
            top1_per_draw=[float(a) for a in self.accuracies],
            chosen_c=self.chosen_c,
            subset_digests=self.subset_digests,
        )


@dataclasses.dataclass
class FeatureEvaluation:
    """Every probe's summary (keyed ``f"{fraction:g}"``), kNN top-1, and each fraction's first-draw test predictions."""

    linear: Dict[str, ProbeSummary]
    knn_top1: float
    predictions: Dict[str, np.ndarray]


def linear_probe(
    train: BlocksFn,
    train_y: np.ndarray,
    test_x: np.ndarray,
    test_y: np.ndarray,
    fraction: float,
    draws: Sequence[int],
    train_keys: Optional[np.ndarray] = None,
    sklearn_max: int = SKLEARN_MAX_LABELS,
) -> ProbeResult:
    """Probes on ``fraction`` of the train labels, one per draw; train features [n, d] come as blocks."""
    test_x = l2_normalise(test_x)
    classes = int(max(train_y.max(), test_y.max())) + 1
    accuracies: List[float] = []
    chosen: List[float] = []
    digests: List[str] = []
    predictions: Optional[np.ndarray] = None
    used = 0
    for draw in draws:
        subset = stratified_subset(train_y, fraction, draw, train_keys)
        if train_keys is not None:
            digests.append(subset_digest(train_keys[subset]))
        if len(subset) <= sklearn_max:
            order = np.argsort(subset, kind="stable")  # gather reads in order; fit in the subset's order
            features = np.empty((len(subset), test_x.shape[1]), np.float32)
            features[order] = gather(train, len(train_y), subset[order])[0]
            probe = fit_probe(features, train_y[subset], draw)
        else:
            probe = fit_streamed_probe(train, len(train_y), train_y, subset, classes, test_x.shape[1], draw)
        predicted = probe.predict(test_x)
        accuracies.append(float(np.mean(predicted == test_y)))
        chosen.append(float(probe.C))
        used = len(subset)
        if predictions is None:
            predictions = predicted
    if predictions is None:
        raise ValueError("a linear probe needs at least one draw")
    return ProbeResult(fraction, accuracies, chosen, used, predictions, digests)


def evaluate_features(
    train: BlocksFn,
    train_y: np.ndarray,
    test_x: np.ndarray,
    test_y: np.ndarray,
    fractions: Sequence[float],
    draws: Sequence[int],
    knn_k: int = 20,
    train_keys: Optional[np.ndarray] = None,
    sklearn_max: int = SKLEARN_MAX_LABELS,
) -> FeatureEvaluation:
    """All probes plus kNN.

    train: the train split's (features [b, d], labels [b]) blocks, in the order of train_y [n] and train_keys [n].
    """
    results = {
        fraction: linear_probe(train, train_y, test_x, test_y, fraction, draws, train_keys, sklearn_max)
        for fraction in fractions
    }
    knn_predicted = knn.knn_predictions(train(), test_x, k=knn_k)
    return FeatureEvaluation(
        linear={f"{fraction:g}": result.summary() for fraction, result in results.items()},
        knn_top1=float(np.mean(knn_predicted == test_y)),
        predictions={f"{fraction:g}": result.predictions for fraction, result in results.items()},
    )
