"""How many images a TPU replica holds in one SimCLR training step, so a config can refuse more.

A replica is a v5e chip or a v3 core (``HBM_GIB_PER_REPLICA`` below). What one image costs is dominated by the
activations that the backward pass keeps, which grow with the pixels of each view and with the
encoder's width. The limit is one anchor scaled by those:

* Anchor: ResNet-50 at 224 px, two views, bfloat16, holds 128 images per replica. This is the
  project's sizing for ``imagenet.yaml`` (batch 1024 on the 8 chips of a v5e host). For scale,
  the SimCLR paper trains batch 4096 on 128 v3 cores: 32 images per core.
* Other sizes, widths and multi-crop views: the same budget of 224-px-view equivalents,
  ``views x (size / 224)^2 x width_multiplier``. ResNet-18 and -34 keep fewer activations per
  pixel than ResNet-50; they are held to ResNet-50's budget, which errs on the safe side.
* Float32 on a TPU (``training.bf16: off``) doubles every activation: half the budget.

This is an estimate from one anchor, not a measurement on a TPU: none is reachable here.
"""

from typing import Dict

from trainer.config import TrainingConfig

# HBM per replica (TPUStrategy's unit): Cloud TPU system architecture, "TPU v5e" (16 GiB per chip, one
# TensorCore) and "TPU v3" (32 GiB per chip of two TensorCores, each a replica: 16 GiB).
HBM_GIB_PER_REPLICA: Dict[str, int] = {"v5e": 16, "v3": 16}
ANCHOR_GENERATION = "v5e"
ANCHOR_SIZE = 224
ANCHOR_IMAGES = 128
ANCHOR_VIEWS = 2
# 224-px bfloat16 views of ResNet-50 that one GiB of HBM holds, from the anchor.
VIEWS_PER_GIB = ANCHOR_IMAGES * ANCHOR_VIEWS / HBM_GIB_PER_REPLICA[ANCHOR_GENERATION]


def views_per_image(training: TrainingConfig) -> float:
    """One image's cost in 224-px ResNet-50 views: its two views and its local views, by pixels and width."""
    encoder, augment = training.encoder, training.augment
    pixels = ANCHOR_VIEWS * encoder.image_size**2 + augment.local_views * augment.local_view_size**2
    cost = pixels / ANCHOR_SIZE**2 * encoder.width_multiplier
    return cost * (2 if training.bf16 == "off" else 1)


def max_images_per_replica(training: TrainingConfig, generation: str = ANCHOR_GENERATION) -> int:
    """The most images per replica of this TPU generation that this training config fits in memory."""
    return int(HBM_GIB_PER_REPLICA[generation] * VIEWS_PER_GIB // views_per_image(training))
