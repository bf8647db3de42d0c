"""NT-Xent, SimCLR's contrastive loss, with negatives gathered across replicas.

Each replica holds a slice of the global batch. Its projections are gathered
from every replica (as the official ``tpu_cross_replica_concat``), so every
anchor is contrasted with all 2N-2 negatives of the global batch and the loss
depends only on the global batch, not on how it is split. Computed in float32.

``decoupled=True`` is the decoupled contrastive loss (DCL, Yeh et al. 2022,
arXiv 2110.06848): the positive is left out of the softmax denominator, which
removes the coupling between positive and negative gradients that makes
NT-Xent need large batches.
"""

import tensorflow as tf

LARGE_NUM = 1e9


def _gather_from_replicas(tensor: tf.Tensor):
    """(tensor concatenated over all replicas in replica order, this replica's offset in it)."""
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return tensor, 0
    offset = tf.cast(context.replica_id_in_sync_group, tf.int32) * tf.shape(tensor)[0]
    return context.all_gather(tensor, axis=0), offset


def nt_xent(z1: tf.Tensor, z2: tf.Tensor, temperature: float, decoupled: bool = False):
    """Loss averaged over this replica's 2n anchors, and contrastive top-1 accuracy.

    Args:
      z1, z2: [n, d] projections of the two views of the same n images.
      decoupled: leave the positive out of the denominator (DCL).
    """
    z1 = tf.math.l2_normalize(tf.cast(z1, tf.float32), axis=1)
    z2 = tf.math.l2_normalize(tf.cast(z2, tf.float32), axis=1)
    all_z1, offset = _gather_from_replicas(z1)
    all_z2, _ = _gather_from_replicas(z2)
    local = tf.shape(z1)[0]
    positives = tf.range(local) + offset
    self_mask = tf.one_hot(positives, tf.shape(all_z1)[0]) * LARGE_NUM

    logits_11 = tf.matmul(z1, all_z1, transpose_b=True) / temperature - self_mask
    logits_22 = tf.matmul(z2, all_z2, transpose_b=True) / temperature - self_mask
    logits_12 = tf.matmul(z1, all_z2, transpose_b=True) / temperature
    logits_21 = tf.matmul(z2, all_z1, transpose_b=True) / temperature

    logits = tf.concat([tf.concat([logits_12, logits_11], 1), tf.concat([logits_21, logits_22], 1)], 0)
    labels = tf.concat([positives, positives], 0)
    if decoupled:
        positive = tf.one_hot(labels, tf.shape(logits)[1])
        loss = tf.reduce_mean(
            tf.reduce_logsumexp(logits - positive * LARGE_NUM, axis=1) - tf.reduce_sum(logits * positive, axis=1)
        )
    else:
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))
    accuracy = tf.reduce_mean(tf.cast(tf.equal(tf.argmax(logits, 1, output_type=tf.int32), labels), tf.float32))
    return loss, accuracy
