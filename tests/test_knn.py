"""The blocked kNN (trainer/knn.py) against a dense queries × bank computation."""

import numpy as np
import pytest

from trainer import knn


def _dense_predictions(bank, bank_labels, queries, k, temperature=knn.TEMPERATURE):
    """The whole [queries, bank] similarity matrix at once: what the blocked kNN must reproduce."""
    similarity = knn.l2_normalise(queries) @ knn.l2_normalise(bank).T
    nearest = np.argsort(-similarity, axis=1)[:, :k]
    votes = np.zeros((len(queries), bank_labels.max() + 1))
    np.add.at(
        votes,
        (np.arange(len(queries))[:, None], bank_labels[nearest]),
        np.exp(np.take_along_axis(similarity, nearest, axis=1) / temperature),
    )
    return votes.argmax(axis=1)


@pytest.mark.parametrize("bank_block", [7, 50, 1000])
def test_the_blocked_knn_predicts_what_the_dense_one_does(bank_block, monkeypatch):
    rng = np.random.default_rng(0)
    classes = 6
    bank_labels = rng.integers(0, classes, 300)
    bank = rng.normal(size=(300, 16)) + 3 * np.eye(classes, 16)[bank_labels]
    query_labels = rng.integers(0, classes, 90)
    queries = rng.normal(size=(90, 16)) + 3 * np.eye(classes, 16)[query_labels]
    monkeypatch.setattr(knn, "QUERY_BLOCK", 32)  # several query blocks, the last one partial
    blocks = [
        (bank[start : start + bank_block].astype(np.float16), bank_labels[start : start + bank_block])
        for start in range(0, len(bank), bank_block)
    ]

    blocked = knn.knn_predictions(blocks, queries, k=20)

    dense = _dense_predictions(bank.astype(np.float16).astype(np.float32), bank_labels, queries, k=20)
    assert np.array_equal(blocked, dense)
    assert np.mean(blocked == query_labels) > 0.8  # chance is 1/6


def test_with_fewer_bank_features_than_k_every_feature_votes():
    bank, labels = np.eye(3, 4), np.array([0, 1, 1])
    assert knn.knn_predictions([(bank, labels)], np.array([[0.0, 0.1, 0.1, 0.0]]), k=20).tolist() == [1]
