"""SimCLR v2 fine-tuning: the pretrained encoder and the head's first layer, then a linear classifier.

SimCLR v2 (Chen et al. 2020b, arXiv 2006.10029, section 2) fine-tunes "from the middle layer of the
projection head": the classifier is f (the encoder) -> the first dense + BN + ReLU of g -> a linear
layer, every weight trained on the labelled images. The pretrained weights come from the Trainer's
final checkpoint (``train.FINAL_CHECKPOINT`` in its model_run). Views are random crops and flips at the
training size (``FinetuneConfig.augment``); scores are on centre crops at the serving size, as served.
"""

import tensorflow as tf
import tf_keras as keras

from trainer import supervised
from trainer.config import FinetuneConfig, OptimizerConfig, TrainingConfig
from trainer.model import build_encoder_and_head

# LP-FT's linear layer alone: Adam at a constant 0.01 (a convex problem; LARS's layer-wise trust ratio
# moves one freshly initialised layer too slowly).
PROBE_OPTIMIZER = OptimizerConfig(
    name="adam", base_learning_rate=0.01, lr_scaling="none", weight_decay=0.0, warmup_epochs=0
)
HEAD_LAYER_NAMES = ("dense_{}", "bn_{}", "relu_{}")  # trainer/heads.py's layers of one hidden head layer


def build_classifier(
    training: TrainingConfig, channel_stats, num_classes: int, head_layers: int, checkpoint: str = ""
) -> keras.Model:
    """Images [n, s, s, 3] in [0, 1] -> class logits [n, num_classes]: encoder, ``head_layers`` hidden layers
    of the projection head, a new linear layer; the encoder and head hold ``checkpoint``'s weights when given."""
    if head_layers >= len(training.head.widths):
        raise ValueError(
            f"finetune.head_layers ({head_layers}) must be fewer than the head's layers ({len(training.head.widths)})"
        )
    encoder, head = build_encoder_and_head(training, *channel_stats)
    if checkpoint:
        tf.train.Checkpoint(encoder=encoder, head=head).read(
            checkpoint
        ).expect_partial().assert_existing_objects_matched()
    features = encoder.output
    for index in range(head_layers):
        for name in HEAD_LAYER_NAMES:
            if name.format(index) in {layer.name for layer in head.layers}:  # no BN in a head without it
                features = head.get_layer(name.format(index))(features)
    logits = keras.layers.Dense(num_classes, name="logits", dtype="float32")(features)
    return keras.Model(encoder.input, logits, name="classifier")


def finetune(
    training: TrainingConfig,
    settings: FinetuneConfig,
    checkpoint: str,
    channel_stats,
    images: tf.data.Dataset,
    count: int,
    num_classes: int,
    random_state: int,
) -> keras.Model:
    """The pretrained classifier fine-tuned on ``count`` (stored PNG bytes, label id) pairs."""
    keras.utils.set_random_seed(random_state)
    classifier = build_classifier(training, channel_stats, num_classes, settings.head_layers, checkpoint)
    config = finetuning_config(training, settings)
    if settings.probe_steps:  # LP-FT: the linear layer first, on frozen features (BN in inference mode)
        for layer in classifier.layers[:-1]:
            layer.trainable = False
        probing = config.model_copy(update={"optimizer": PROBE_OPTIMIZER})
        supervised.fit_classifier(
            classifier, probing, images, count, settings.probe_steps, random_state, "linear layer (LP-FT)"
        )
        for layer in classifier.layers:
            layer.trainable = True
    return supervised.fit_classifier(
        classifier, config, images, count, settings.steps_for(count), random_state, "fine-tuning"
    )


def finetuning_config(training: TrainingConfig, settings: FinetuneConfig) -> TrainingConfig:
    """The pretraining's settings with fine-tuning's optimiser, batch, views and crop size (the architecture stays)."""
    encoder = training.encoder.model_copy(update={"image_size": settings.image_size or training.encoder.image_size})
    return training.model_copy(
        update={
            "optimizer": settings.optimizer,
            "batch_size": settings.batch_size,
            "augment": settings.augment,
            "encoder": encoder,
        }
    )
