"""The trainer's typed settings: encoder, head, loss, augmentations, optimisation, loop.

Named recipes (``pipeline/configs/recipes/*.yaml``) are presets of these settings; the
pipeline config nests one ``TrainingConfig`` and passes it to the Trainer as JSON.
"""

from typing import ClassVar, Literal, Optional, Tuple

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, model_validator


class Section(BaseModel):
    """A config section: unknown settings are errors, and values never change after loading."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class EncoderConfig(Section):
    depth: Literal[10, 18, 34, 50] = Field(
        18, description="ResNet depth; 10 (one basic block per stage) is for tiny data and tests."
    )
    width_multiplier: float = Field(1.0, gt=0, description="Channels of every layer times this.")
    stem: Literal["auto", "imagenet", "small"] = Field(
        "auto", description="imagenet: 7x7 stride 2 and max pool; small: 3x3 stride 1; auto: small at 64 px or less."
    )
    image_size: PositiveInt = Field(96, description="The training input: random crops resized to this size.")
    # Serving (and evaluation) input size; None: image_size. Random-resized crops make objects look
    # larger in training than in a whole image at the same size, so serving somewhat larger matches
    # them again (FixRes, Touvron et al. 2019). The encoder is fully convolutional, so any size works.
    eval_image_size: Optional[PositiveInt] = Field(
        None, description="Serving and evaluation size (default image_size); larger than the crops pays (FixRes)."
    )

    @property
    def serving_size(self) -> int:
        return self.eval_image_size or self.image_size


class HeadConfig(Section):
    widths: Tuple[PositiveInt, ...] = Field((512, 128), description="The projection head: hidden layers, then output.")
    batch_norm: bool = Field(True, description="Batch norm after every dense layer, no bias (SimCLR v2).")


class AugmentConfig(Section):
    crop: bool = Field(True, description="Random resized crops (SimCLR appendix A).")
    crop_area: Tuple[float, float] = Field((0.08, 1.0), description="Area range of a crop, as a fraction of the image.")
    crop_aspect: Tuple[float, float] = Field((3 / 4, 4 / 3), description="Aspect-ratio range of a crop.")
    flip: bool = Field(True, description="Random horizontal flips.")
    jitter_strength: float = Field(
        0.5, ge=0, description="Colour jitter strength s (brightness etc. 0.8 s, hue 0.2 s)."
    )
    jitter_probability: float = Field(0.8, ge=0, le=1, description="Chance of colour jitter per view.")
    jitter_random_order: bool = Field(True, description="Jitter's four operations in a random order.")
    grayscale_probability: float = Field(0.2, ge=0, le=1, description="Chance of grayscale per view.")
    blur_probability: float = Field(0.5, ge=0, le=1, description="Chance of Gaussian blur per view.")
    blur_kernel_fraction: float = Field(0.1, gt=0, le=1, description="Blur kernel side as a fraction of the view.")
    blur_sigma: Tuple[float, float] = Field((0.1, 2.0), description="Range of the blur's sigma.")
    per_batch_jitter: bool = Field(False, description="One colour-jitter draw per batch (the seed notebooks).")
    # Multi-crop (SwAV, Caron et al. 2020): this many extra small, low-resolution crops of each
    # image besides the two views, each a positive of every other view of it (trainer/objective.py).
    local_views: int = Field(0, ge=0, description="Multi-crop (SwAV): extra small views per image, each a positive.")
    local_view_size: PositiveInt = Field(32, description="Side of multi-crop's small views, in pixels.")
    local_crop_area: Tuple[float, float] = Field((0.05, 0.2), description="Area range of multi-crop's small crops.")


class OptimizerConfig(Section):
    name: Literal["lars", "sgd", "adam"] = Field("lars", description="The optimiser; LARS skips norms and biases.")
    # SimCLR appendix B.1: 0.075 x sqrt(batch) suits small batches and short runs (0.3 x batch/256 for linear).
    base_learning_rate: float = Field(0.075, gt=0, description="Scaled by lr_scaling with the batch.")
    lr_scaling: Literal["linear", "sqrt", "none"] = Field(
        "sqrt", description="Learning rate: base x batch/256 (linear), base x sqrt(batch) (sqrt) or base (none)."
    )
    momentum: float = Field(0.9, ge=0, lt=1, description="Momentum of LARS and SGD.")
    weight_decay: float = Field(1e-6, ge=0, description="Not applied to norms and biases.")
    warmup_epochs: float = Field(10, ge=0, description="Linear warm-up, then cosine decay (warmup_cosine).")
    schedule: Literal["warmup_cosine", "cosine_steps"] = Field(
        "warmup_cosine", description="warmup_cosine: warm-up then cosine over the run; cosine_steps: the seed's."
    )
    cosine_decay_steps: Optional[PositiveInt] = Field(
        None, description="cosine_steps: CosineDecay over this many steps (the seed recipe)."
    )


class TrainingConfig(Section):
    encoder: EncoderConfig = Field(default_factory=EncoderConfig)
    head: HeadConfig = Field(default_factory=HeadConfig)
    augment: AugmentConfig = Field(default_factory=AugmentConfig)
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    temperature: float = Field(0.2, gt=0, description="NT-Xent's temperature.")
    # nt_xent: SimCLR's loss. decoupled: NT-Xent without the positive in the denominator (DCL,
    # Yeh et al. 2022, who report that it needs smaller batches). debiased: the same-class negatives'
    # expected share taken out of the denominator (Chuang et al. 2020; trainer/objective.py).
    loss: Literal["nt_xent", "decoupled", "debiased"] = Field(
        "nt_xent",
        description="nt_xent: SimCLR's loss; decoupled: without the positive in the denominator (DCL); "
        "debiased: without same-class negatives' expected share (Chuang et al. 2020).",
    )
    positive_prior: float = Field(
        0.1, ge=0, lt=1, description="debiased: the chance that a negative shares its anchor's class (about 1/classes)."
    )
    batch_size: PositiveInt = Field(256, description="The global batch, over all replicas.")
    epochs: int = Field(100, ge=0, description="0 exports the untrained encoder: the random-init baseline.")
    max_steps: Optional[PositiveInt] = Field(None, description="Stops earlier than epochs when set.")
    bf16: Literal["auto", "on", "off"] = Field(
        "auto",
        description="Train under mixed bfloat16 (auto: on TPUs and on CPUs with native bf16, AVX-512 BF16 or AMX; "
        "elsewhere it is emulated and slower); the export is float32 either way.",
    )
    sync_batch_norm: bool = Field(True, description="Batch-norm statistics over all replicas.")
    # A checkpoint every N steps or every S seconds, whichever comes first (written in the background).
    checkpoint_every_steps: PositiveInt = Field(50, description="A checkpoint every N steps or S seconds, first.")
    checkpoint_every_seconds: PositiveInt = Field(600, description="See checkpoint_every_steps.")
    knn_every_epochs: int = Field(0, ge=0, description="kNN top-1 on the eval split every N epochs; 0: never.")
    knn_monitor_images: PositiveInt = Field(10_000, description="The kNN monitor's bank and queries, at most each.")
    random_state: int = Field(0, description="Initial weights and data order; augmentations still vary between runs.")
    shuffle_buffer: PositiveInt = Field(2048, description="Images in tf.data's shuffle buffer.")
    # Decoded stored-size images stay in memory when they fit in this (1,250 images at 128 px: 61 MB;
    # ImageNet-1k: 63 GB, streamed); 0 always streams from the files.
    cache_budget_mb: int = Field(
        4096, ge=0, description="Decoded images stay in memory when they fit in this; else streamed from files."
    )

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

    steps: PositiveInt = Field(600, description="Training steps per labelled subset, whatever its size.")
    batch_size: PositiveInt = Field(64, description="Labelled images per step.")
    label_draws: PositiveInt = Field(1, description="Subsets trained per label fraction (draws 0, 1, ...).")
    optimizer: OptimizerConfig = Field(
        default_factory=lambda: OptimizerConfig(
            name="sgd",
            base_learning_rate=0.1,
            lr_scaling="none",
            weight_decay=5e-4,
            warmup_epochs=0.5,
        )
    )  # an "epoch" here is a tenth of the steps: one progress line each


class BoundedSteps(Section):
    """A training run of ``epochs`` passes, within min_steps..max_steps: fine-tuning's and distillation's."""

    SETTING: ClassVar[str] = ""  # the section's place in the config, for its one-line error
    min_steps: PositiveInt = Field(100, description="Fewest steps, however few the images.")
    max_steps: PositiveInt = Field(600, description="Most steps, however many the images.")

    def bounded_steps(self, epochs: int, images: int, batch_size: int) -> int:
        """The steps of ``epochs`` passes over ``images`` in batches of ``batch_size``, within the bounds."""
        return max(self.min_steps, min(self.max_steps, -(-epochs * images // batch_size)))

    @model_validator(mode="after")
    def _check_bounds(self):
        if self.min_steps > self.max_steps:
            bounds = f"min_steps ({self.min_steps}) must not exceed max_steps ({self.max_steps})"
            raise ValueError(f"{self.SETTING}.{bounds}")
        return self


class DistillConfig(BoundedSteps):
    """SimCLR v2 self-distillation (Chen et al. 2020b, arXiv 2006.10029, section 2, eq. 3): a student of the
    classifier's architecture learns the fine-tuned teacher's class probabilities at temperature 1 on every
    train and unlabelled image, their labels unused.

    The paper's students train for hundreds of epochs from scratch; on a CPU budget the student starts
    from the pretrained encoder and head layer, as fine-tuning does, and trains with fine-tuning's
    optimiser and views (crops and flips; the teacher sees the student's view).
    """

    SETTING: ClassVar[str] = "finetune.distill"
    temperature: float = Field(1.0, gt=0, description="Softmax temperature of teacher and student (v2: 1).")
    epochs: PositiveInt = Field(10, description="Passes over the train and unlabelled images, within the bounds.")

    def steps_for(self, images: int, batch_size: int) -> int:
        """Training steps for ``images`` images: ``epochs`` passes, within min_steps..max_steps."""
        return self.bounded_steps(self.epochs, images, batch_size)


class FinetuneConfig(BoundedSteps):
    """SimCLR v2 fine-tuning (Chen et al. 2020b, arXiv 2006.10029, section 2 and appendix B.2): the
    pretrained encoder plus the projection head's first layer, then a linear classifier, all trained on
    the labelled images with crops and flips only.

    The paper fine-tunes with LARS at 0.005 x sqrt(batch), no weight decay and no warm-up, for 60 epochs
    of the 1 % and 10 % subsets; here the epochs are bounded by ``min_steps`` and ``max_steps`` so that a
    subset of a dozen images still gets some steps and a large one a bounded run on a CPU.
    """

    SETTING: ClassVar[str] = "finetune"
    head_layers: int = Field(1, ge=0, description="Projection-head layers kept under the classifier (v2: 1).")
    epochs: PositiveInt = Field(60, description="Passes over the labelled images, within min_steps..max_steps.")
    batch_size: PositiveInt = Field(64, description="Labelled images per step.")
    label_fractions: Tuple[float, ...] = Field(
        (0.01, 0.1), description="Fractions of the train labels it is fine-tuned on to be scored on the test split."
    )
    label_draws: PositiveInt = Field(3, description="Subsets fine-tuned per label fraction (draws 0, 1, ...).")
    optimizer: OptimizerConfig = Field(
        default_factory=lambda: OptimizerConfig(
            name="lars", base_learning_rate=0.005, lr_scaling="sqrt", weight_decay=0.0, warmup_epochs=0
        )
    )
    augment: AugmentConfig = Field(
        default_factory=lambda: AugmentConfig(jitter_strength=0.0, grayscale_probability=0.0, blur_probability=0.0),
        description="The views fine-tuning trains on (v2: random crops and flips only).",
    )
    serving_size: Optional[PositiveInt] = Field(
        None, description="Side of the classifier's served views (scored and exported); None: the encoder's."
    )
    image_size: Optional[PositiveInt] = Field(
        None, description="Side of fine-tuning's (and distillation's) training crops; None: the pretraining's."
    )
    # LP-FT (Kumar et al. 2022, arXiv 2202.10054): a linear layer fitted to the frozen features first keeps
    # fine-tuning's first steps from distorting them with a random layer's gradients.
    probe_steps: int = Field(
        0, ge=0, description="LP-FT: steps that train the linear layer alone, the rest frozen, before fine-tuning all."
    )
    distill: Optional[DistillConfig] = Field(
        None, description="Self-distil each fine-tuned classifier into a student on all train and unlabelled images."
    )

    def steps_for(self, images: int) -> int:
        """Training steps for ``images`` labelled images: ``epochs`` passes, within min_steps..max_steps."""
        return self.bounded_steps(self.epochs, images, self.batch_size)

    @model_validator(mode="after")
    def _check(self):
        if any(not 0.0 < fraction <= 1.0 for fraction in self.label_fractions):
            raise ValueError("finetune.label_fractions: every label fraction must be in (0, 1]")
        return self
