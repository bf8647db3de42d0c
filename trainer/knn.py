"""k-nearest-neighbour classification on L2-normalised features (cosine similarity, similarity-weighted vote).

The bank (the labelled features) is visited in blocks and each query keeps only its running top k,
so memory is bounded by ``query_block × bank_block`` similarities plus ``queries × k``, never
``queries × bank``: a 1.28 M-image bank is streamed from its shards block by block.
"""

from typing import Iterable, Tuple

import numpy as np

QUERY_BLOCK = 4096
TEMPERATURE = 0.07  # the vote weight of a neighbour is exp(similarity / TEMPERATURE)


def l2_normalise(features: np.ndarray) -> np.ndarray:
    """[n, d] -> [n, d] float32 rows of unit length (zero rows stay zero)."""
    features = np.asarray(features, np.float32)
    return features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)


class TopK:
    """The k most similar bank features of each query, updated one bank block at a time.

    queries: [q, d]. After every ``update``, ``similarity`` [q, k'] and ``labels`` [q, k'] hold each
    query's k' = min(k, bank seen so far) best similarities and their labels, in no particular order.
    """

    def __init__(self, queries: np.ndarray, k: int):
        self.queries = l2_normalise(queries)
        self.k = k
        self.similarity = np.empty((len(queries), 0), np.float32)
        self.labels = np.empty((len(queries), 0), np.int64)

    def update(self, bank: np.ndarray, bank_labels: np.ndarray) -> None:
        """bank: [b, d] features (any float dtype), bank_labels: [b] int."""
        bank = l2_normalise(bank)
        bank_labels = np.asarray(bank_labels, np.int64)
        for start in range(0, len(self.queries), QUERY_BLOCK):
            rows = slice(start, start + QUERY_BLOCK)
            similarity = np.concatenate([self.similarity[rows], self.queries[rows] @ bank.T], axis=1)
            labels = np.concatenate(
                [self.labels[rows], np.broadcast_to(bank_labels, (similarity.shape[0], len(bank_labels)))], axis=1)
            if similarity.shape[1] > self.k:
                best = np.argpartition(-similarity, self.k - 1, axis=1)[:, :self.k]
                similarity = np.take_along_axis(similarity, best, axis=1)
                labels = np.take_along_axis(labels, best, axis=1)
            if start == 0:
                merged_similarity = np.empty((len(self.queries), similarity.shape[1]), np.float32)
                merged_labels = np.empty((len(self.queries), similarity.shape[1]), np.int64)
            merged_similarity[rows], merged_labels[rows] = similarity, labels
        self.similarity, self.labels = merged_similarity, merged_labels

    def predictions(self, temperature: float = TEMPERATURE) -> np.ndarray:
        """[q] the class with the largest similarity-weighted vote among each query's neighbours."""
        classes = int(self.labels.max()) + 1
        votes = np.zeros((len(self.queries), classes))
        np.add.at(votes, (np.arange(len(self.queries))[:, None], self.labels),
                  np.exp(self.similarity / temperature))
        return votes.argmax(axis=1)


def knn_predictions(bank_blocks: Iterable[Tuple[np.ndarray, np.ndarray]], queries: np.ndarray, k: int = 20,
                    temperature: float = TEMPERATURE) -> np.ndarray:
    """[q] predicted classes of ``queries`` [q, d] from a bank given as (features [b, d], labels [b]) blocks."""
    top = TopK(queries, k)
    for features, labels in bank_blocks:
        top.update(features, labels)
    return top.predictions(temperature)


def knn_accuracy(bank, bank_labels, queries, query_labels, k: int = 20, temperature: float = TEMPERATURE,
                 bank_block: int = 16384) -> float:
    """Top-1 accuracy of a similarity-weighted vote among each query's k nearest bank features."""
    blocks = ((bank[start:start + bank_block], bank_labels[start:start + bank_block])
              for start in range(0, len(bank), bank_block))
    return float(np.mean(knn_predictions(blocks, queries, k, temperature) == query_labels))
