"""NT-Xent, SimCLR's contrastive loss, over two or more views, with negatives gathered across replicas.

Each replica holds a slice of the global batch. Its projections are gathered
from every replica (as the official ``tpu_cross_replica_concat``), so every
anchor is contrasted with every other view in the global batch and the loss
depends only on the global batch, not on how it is split. Computed in float32.

With two views this is the paper's loss: each anchor's positive is the other
view of its image, and the 2N-2 views of other images are its negatives. With
more views (multi-crop) every other view of the same image is a positive, and
an anchor's loss is the mean over its positives (as SupCon, Khosla et al. 2020,
with the image as the class).

``decoupled=True`` is the decoupled contrastive loss (DCL, Yeh et al. 2022,
arXiv 2110.06848): the positives are left out of the softmax denominator, which
removes the coupling between positive and negative gradients that makes
NT-Xent need large batches.

``debiased_prior=τ+ > 0`` is the debiased contrastive loss (Chuang et al. 2020, arXiv 2007.00224,
eq. 5 with M = 1): a fraction τ+ of an anchor's in-batch negatives are expected to share its
class (about 1/classes), so their share of the denominator is estimated from the positive and
taken out, ``Ng = max((Σ neg - τ+ N pos) / (1 - τ+), N e^(-1/t))`` over N negatives.
"""

from typing import Sequence

import tensorflow as tf

LARGE_NUM = 1e9


def _gather_from_replicas(tensor: tf.Tensor):
    """(tensor concatenated over all replicas in replica order, this replica's offset in it)."""
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return tensor, 0
    offset = tf.cast(context.replica_id_in_sync_group, tf.int32) * tf.shape(tensor)[0]
    return context.all_gather(tensor, axis=0), offset


def nt_xent(views: Sequence[tf.Tensor], temperature: float, decoupled: bool = False, debiased_prior: float = 0.0):
    """Loss averaged over this replica's anchors (every view of every image), and contrastive top-1 accuracy.

    Args:
      views: two or more [n, d] projections; row i of each is a view of this replica's image i.
      decoupled: leave the positives out of the denominator (DCL).
      debiased_prior: τ+ of the debiased loss (0: NT-Xent as in the paper).
    Returns:
      (loss, accuracy); accuracy is the fraction of anchors whose most similar other view is a positive.
    """
    if len(views) < 2:
        raise ValueError(f"NT-Xent needs at least two views of each image, not {len(views)}")
    views = [tf.math.l2_normalize(tf.cast(z, tf.float32), axis=1) for z in views]
    gathered = [_gather_from_replicas(z) for z in views]
    offset = gathered[0][1]
    count = len(views)
    local, total = tf.shape(views[0])[0], tf.shape(gathered[0][0])[0]

    # Rows are anchors and columns candidates, both view-major: (view v, image i) is row v * n + i.
    anchors = tf.concat(views, 0)
    candidates = tf.concat([z for z, _ in gathered], 0)
    logits = tf.matmul(anchors, candidates, transpose_b=True) / temperature

    anchor_image = tf.tile(tf.range(local) + offset, [count])
    anchor_view = tf.repeat(tf.range(count), local)
    candidate_image = tf.tile(tf.range(total), [count])
    candidate_view = tf.repeat(tf.range(count), total)
    same_image = tf.equal(anchor_image[:, None], candidate_image[None, :])
    itself = tf.logical_and(same_image, tf.equal(anchor_view[:, None], candidate_view[None, :]))
    positive = tf.cast(tf.logical_and(same_image, tf.logical_not(itself)), tf.float32)
    logits -= tf.cast(itself, tf.float32) * LARGE_NUM

    positive_logit = tf.reduce_sum(logits * positive, axis=1) / (count - 1)
    if debiased_prior:
        log_denominator = _debiased_log_denominator(
            logits, positive, itself, positive_logit, temperature, debiased_prior
        )
    else:
        log_denominator = tf.reduce_logsumexp(logits - positive * LARGE_NUM if decoupled else logits, axis=1)
    loss = tf.reduce_mean(log_denominator - positive_logit)
    best = tf.argmax(logits, axis=1, output_type=tf.int32)
    accuracy = tf.reduce_mean(tf.gather(positive, best, axis=1, batch_dims=1))
    return loss, accuracy


def _debiased_log_denominator(logits, positive, itself, positive_logit, temperature: float, prior: float):
    """log(pos + Ng) per anchor (rows of ``logits``), Chuang et al. 2020's debiased denominator.

    Cosine similarities are at most 1, so ``exp(logits)`` is bounded by e^(1/t) and safe in float32.
    """
    negative = 1.0 - positive - tf.cast(itself, tf.float32)
    negatives = tf.reduce_sum(negative, axis=1)
    negative_sum = tf.reduce_sum(tf.exp(logits) * negative, axis=1)
    positive_exp = tf.exp(positive_logit)
    estimate = (negative_sum - prior * negatives * positive_exp) / (1.0 - prior)
    floor = negatives * tf.exp(-1.0 / temperature)
    return tf.math.log(positive_exp + tf.maximum(estimate, floor))
