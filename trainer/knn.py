"""k-nearest-neighbour classification on L2-normalised features (cosine similarity, similarity-weighted vote).

The bank (the labelled features) is visited in blocks and each query keeps only its running top k,
so memory is bounded by ``query_block × bank_block`` similarities plus ``queries × k``, never
``queries × bank``: a 1.28 M-image bank is streamed from its shards block by block.
"""

from typing import Callable, Iterable, Iterator, Tuple

import numpy as np

QUERY_BLOCK = 4096
BANK_BLOCK = 16384
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
        merged = [
            self._merged(slice(start, start + QUERY_BLOCK), bank, bank_labels)
            for start in range(0, len(self.queries), QUERY_BLOCK)
        ]
        if merged:
            self.similarity = np.concatenate([similarity for similarity, _ in merged])
            self.labels = np.concatenate([labels for _, labels in merged])

    def _merged(self, rows: slice, bank: np.ndarray, bank_labels: np.ndarray):
        """The top k of the ``rows`` queries' current neighbours and the bank block: ([r, k'], [r, k'])."""
        similarity = np.concatenate([self.similarity[rows], self.queries[rows] @ bank.T], axis=1)
        labels = np.concatenate(
            [self.labels[rows], np.broadcast_to(bank_labels, (similarity.shape[0], len(bank_labels)))], axis=1
        )
        if similarity.shape[1] <= self.k:
            return similarity, labels
        best = np.argpartition(-similarity, self.k - 1, axis=1)[:, : self.k]
        return np.take_along_axis(similarity, best, axis=1), np.take_along_axis(labels, best, axis=1)

    def predictions(self, temperature: float = TEMPERATURE) -> np.ndarray:
        """[q] the class with the largest similarity-weighted vote among each query's neighbours."""
        classes = int(self.labels.max()) + 1
        votes = np.zeros((len(self.queries), classes))
        np.add.at(votes, (np.arange(len(self.queries))[:, None], self.labels), np.exp(self.similarity / temperature))
        return votes.argmax(axis=1)


# () -> an iterator over a labelled split in its fixed order: (features [b, d], labels [b]) blocks.
BlocksFn = Callable[[], Iterator[Tuple[np.ndarray, np.ndarray]]]


def array_blocks(features: np.ndarray, labels: np.ndarray, rows: int = BANK_BLOCK) -> BlocksFn:
    """In-memory features [n, d] and labels [n] as a BlocksFn."""
    return lambda: ((features[i : i + rows], labels[i : i + rows]) for i in range(0, len(labels), rows))


def knn_predictions(
    bank_blocks: Iterable[Tuple[np.ndarray, np.ndarray]],
    queries: np.ndarray,
    k: int = 20,
    temperature: float = TEMPERATURE,
) -> np.ndarray:
    """[q] predicted classes of ``queries`` [q, d] from a bank given as (features [b, d], labels [b]) blocks."""
    top = TopK(queries, k)
    for features, labels in bank_blocks:
        top.update(features, labels)
    return top.predictions(temperature)


def knn_accuracy(bank, bank_labels, queries, query_labels, k: int = 20, temperature: float = TEMPERATURE) -> float:
    """Top-1 accuracy of a similarity-weighted vote among each query's k nearest bank features."""
    blocks = array_blocks(bank, bank_labels)()
    return float(np.mean(knn_predictions(blocks, queries, k, temperature) == query_labels))
