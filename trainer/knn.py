"""k-nearest-neighbour classification on L2-normalised features (cosine similarity, k=20)."""

import numpy as np


def knn_accuracy(bank, bank_labels, queries, query_labels, k: int = 20, temperature: float = 0.07) -> float:
    """Top-1 accuracy of a similarity-weighted vote among each query's k nearest bank features."""
    bank = bank / np.maximum(np.linalg.norm(bank, axis=1, keepdims=True), 1e-12)
    queries = queries / np.maximum(np.linalg.norm(queries, axis=1, keepdims=True), 1e-12)
    similarity = queries @ bank.T
    k = min(k, len(bank))
    nearest = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
    weights = np.exp(np.take_along_axis(similarity, nearest, axis=1) / temperature)
    classes = int(max(bank_labels.max(), query_labels.max())) + 1
    votes = np.zeros((len(queries), classes))
    np.add.at(votes, (np.arange(len(queries))[:, None], bank_labels[nearest]), weights)
    return float(np.mean(votes.argmax(axis=1) == query_labels))
