"""The trainer's typed settings: encoder, head, loss, augmentations, optimisation, loop.

Named recipes (``pipeline/configs/recipes/*.yaml``) are presets of these settings; the
pipeline config nests one ``TrainingConfig`` and passes it to the Trainer as JSON.
"""

from typing import Literal, Optional, Tuple

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, model_validator


class Section(BaseModel):
    """A config section: unknown settings are errors, and values never change after loading."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class EncoderConfig(Section):
    depth: Literal[18, 34, 50] = 18
    width_multiplier: float = Field(1.0, gt=0)
    stem: Literal["auto", "imagenet", "small"] = "auto"  # auto: small for inputs of 64 px or less
    image_size: PositiveInt = 96  # the training input: random crops resized to this size
    # Serving (and evaluation) input size; None: image_size. Random-resized crops make objects look
    # larger in training than in a whole image at the same size, so serving somewhat larger matches
    # them again (FixRes, Touvron et al. 2019). The encoder is fully convolutional, so any size works.
    eval_image_size: Optional[PositiveInt] = None

    @property
    def serving_size(self) -> int:
        return self.eval_image_size or self.image_size


class HeadConfig(Section):
    widths: Tuple[PositiveInt, ...] = (512, 128)  # hidden layers..., output
    batch_norm: bool = True  # SimCLR v2: BN after every dense layer, no bias


class AugmentConfig(Section):
    crop: bool = True
    crop_area: Tuple[float, float] = (0.08, 1.0)
    crop_aspect: Tuple[float, float] = (3 / 4, 4 / 3)
    flip: bool = True
    jitter_strength: float = Field(0.5, ge=0)
    jitter_probability: float = Field(0.8, ge=0, le=1)
    jitter_random_order: bool = True
    grayscale_probability: float = Field(0.2, ge=0, le=1)
    blur_probability: float = Field(0.5, ge=0, le=1)
    blur_kernel_fraction: float = Field(0.1, gt=0, le=1)
    blur_sigma: Tuple[float, float] = (0.1, 2.0)
    per_batch_jitter: bool = False  # the seed notebook's behaviour: one draw for the whole batch
    # Multi-crop (SwAV, Caron et al. 2020): this many extra small, low-resolution crops of each
    # image besides the two views, each a positive of every other view of it (trainer/objective.py).
    local_views: int = Field(0, ge=0)
    local_view_size: PositiveInt = 32
    local_crop_area: Tuple[float, float] = (0.05, 0.2)


class OptimizerConfig(Section):
    name: Literal["lars", "sgd", "adam"] = "lars"
    # SimCLR appendix B.1: 0.075 x sqrt(batch) suits small batches and short runs (0.3 x batch/256 for linear).
    base_learning_rate: float = Field(0.075, gt=0)
    lr_scaling: Literal["linear", "sqrt", "none"] = "sqrt"  # lr = base * batch/256, base * sqrt(batch), base
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(1e-6, ge=0)
    warmup_epochs: float = Field(10, ge=0)
    schedule: Literal["warmup_cosine", "cosine_steps"] = "warmup_cosine"
    cosine_decay_steps: Optional[PositiveInt] = None  # seed recipe: CosineDecay over a fixed step count


class TrainingConfig(Section):
    encoder: EncoderConfig = Field(default_factory=EncoderConfig)
    head: HeadConfig = Field(default_factory=HeadConfig)
    augment: AugmentConfig = Field(default_factory=AugmentConfig)
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    temperature: float = Field(0.2, gt=0)
    # nt_xent: SimCLR's loss. decoupled: NT-Xent without the positive in the denominator (DCL,
    # Yeh et al. 2022, who report that it needs smaller batches; trainer/objective.py).
    loss: Literal["nt_xent", "decoupled"] = "nt_xent"
    batch_size: PositiveInt = 256  # global batch, over all replicas
    epochs: int = Field(100, ge=0, description="0 exports the untrained encoder: the random-init baseline.")
    max_steps: Optional[PositiveInt] = None  # stops earlier than epochs when set
    bf16: Literal["auto", "on", "off"] = "auto"  # auto: on for TPU only
    sync_batch_norm: bool = True
    # A checkpoint every N steps or every S seconds, whichever comes first (written in the background).
    checkpoint_every_steps: PositiveInt = 50
    checkpoint_every_seconds: PositiveInt = 600
    knn_every_epochs: int = Field(0, ge=0)  # 0: no kNN monitor
    knn_monitor_images: PositiveInt = 10_000  # the monitor's bank and queries: at most this many of each split
    seed: int = 0  # initial weights and the order of the data
    shuffle_buffer: PositiveInt = 2048
    # Decoded stored-size images stay in memory when they fit in this (1,250 images at 128 px: 61 MB;
    # ImageNet-1k: 63 GB, streamed); 0 always streams from the files.
    cache_budget_mb: int = Field(4096, ge=0)

    def settings_that_shape_weights(self) -> dict:
        """These settings as a JSON-ready dict, less those that only change how the encoder is served.

        Checkpoints are keyed by this, so a new serving size re-exports the trained weights instead of
        training again.
        """
        return self.model_dump(mode="json", exclude={"encoder": {"eval_image_size"}})

    @model_validator(mode="after")
    def _check(self):
        if self.optimizer.schedule == "cosine_steps" and not self.optimizer.cosine_decay_steps:
            raise ValueError("optimizer.cosine_decay_steps is required with schedule cosine_steps")
        if self.optimizer.schedule == "warmup_cosine" and self.epochs and self.optimizer.warmup_epochs >= self.epochs:
            raise ValueError(
                f"optimizer.warmup_epochs ({self.optimizer.warmup_epochs:g}) must be fewer than epochs ({self.epochs})"
            )
        return self


class SupervisedBaselineConfig(Section):
    """The encoder trained from scratch on each labelled subset, with the pretraining augmentations.

    Architecture, augmentations and serving size are the pretraining's (``TrainingConfig``);
    these are the settings of supervised training itself.
    """

    steps: PositiveInt = 600  # per labelled subset, whatever its size
    batch_size: PositiveInt = 64
    seeds: PositiveInt = Field(1, description="Subsets trained per label fraction (seeds 0, 1, ...).")
    optimizer: OptimizerConfig = Field(
        default_factory=lambda: OptimizerConfig(
            name="sgd",
            base_learning_rate=0.1,
            lr_scaling="none",
            weight_decay=5e-4,
            warmup_epochs=0.5,
        )
    )  # an "epoch" here is a tenth of the steps: one progress line each
