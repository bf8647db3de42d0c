"""The linear probes' label subsets and classifiers (components/evaluation/linear_probe.py)."""

import numpy as np

from components.evaluation import linear_probe
from trainer import knn


def _labelled(count_per_class=40, classes=3):
    labels = np.repeat(np.arange(classes), count_per_class)
    keys = np.array([f"{index:064x}".encode() for index in range(len(labels))])  # like sha256 hex digests
    return labels, keys


def test_subsets_are_stratified_and_drawn_without_replacement():
    labels, _ = _labelled()
    subset = linear_probe.stratified_subset(labels, 0.1, draw=0)
    assert len(set(subset)) == len(subset) == 12
    assert np.bincount(labels[subset]).tolist() == [4, 4, 4]
    assert not np.array_equal(subset, linear_probe.stratified_subset(labels, 0.1, draw=1))


def test_with_keys_a_seed_labels_the_same_examples_whatever_their_order():
    labels, keys = _labelled()
    shuffled = np.random.default_rng(3).permutation(len(labels))

    def chosen(order, **kwargs):
        return set(keys[order][linear_probe.stratified_subset(labels[order], 0.1, draw=0, **kwargs)])

    identity = np.arange(len(labels))
    assert chosen(shuffled, keys=keys[shuffled]) == chosen(identity, keys=keys)
    assert chosen(shuffled) != chosen(identity)  # without keys the draw follows the reading order


def test_a_subset_digest_names_the_examples_not_their_order():
    _, keys = _labelled()
    assert linear_probe.subset_digest(keys[:5]) == linear_probe.subset_digest(keys[:5][::-1])
    assert linear_probe.subset_digest(keys[:5]) != linear_probe.subset_digest(keys[1:6])


def test_probe_scores_are_independent_of_the_reading_order():
    labels, keys = _labelled()
    rng = np.random.default_rng(0)
    features = rng.normal(size=(len(labels), 8)) + 1.5 * np.eye(3, 8)[labels]
    test_labels = np.repeat(np.arange(3), 20)
    test_features = rng.normal(size=(60, 8)) + 1.5 * np.eye(3, 8)[test_labels]
    shuffled = rng.permutation(len(labels))

    def scores(order):
        return linear_probe.linear_probe(
            knn.array_blocks(features[order], labels[order], rows=7),
            labels[order],
            test_features,
            test_labels,
            0.1,
            [0, 1],
            train_keys=keys[order],
        )

    first, again = scores(np.arange(len(labels))), scores(shuffled)
    assert again.accuracies == first.accuracies and again.subset_digests == first.subset_digests
    assert np.mean(first.accuracies) > 0.6  # chance is 1/3


def _clusters(rng, labels, dim=16, spread=1.0):
    centres = np.random.default_rng(42).normal(size=(labels.max() + 1, dim))
    return centres[labels] + spread * rng.normal(size=(len(labels), dim))


def test_the_streamed_softmax_probe_scores_as_the_sklearn_probe():
    """The same subsets fitted both ways, sklearn in memory and TF streamed from blocks, score alike on test."""
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(5), 160)
    keys = np.array([f"{index:064x}".encode() for index in range(len(labels))])
    features = _clusters(rng, labels)
    test_labels = np.repeat(np.arange(5), 100)
    test_features = _clusters(rng, test_labels)
    blocks = knn.array_blocks(features, labels, rows=100)

    def probe(sklearn_max):
        return linear_probe.linear_probe(
            blocks, labels, test_features, test_labels, 0.5, [0], train_keys=keys, sklearn_max=sklearn_max
        )

    in_memory, streamed = probe(sklearn_max=10_000), probe(sklearn_max=0)
    assert in_memory.subset_digests == streamed.subset_digests  # the same labelled images
    assert 0.6 < in_memory.accuracies[0] < 0.97  # neither chance (0.2) nor trivially separable
    assert abs(streamed.accuracies[0] - in_memory.accuracies[0]) <= 0.03
    assert np.mean(streamed.predictions == in_memory.predictions) > 0.9
