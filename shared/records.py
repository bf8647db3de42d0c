"""The records that stages hand each other, each defined once and used by its writer and its readers.

Each is a frozen pydantic model, written as JSON into its stage's artifact (the file name is in
``contract``) and read back with ``Model.read(uri)``; an unknown or missing field is an error, so a
writer and a reader cannot drift apart.

    Snapshot          DataFingerprint -> the CLI, the run summary     snapshot.json
    IngestReport      ImageExampleGen -> the CLI                      ingest_report.json
    BaselineMetrics   SupervisedBaseline -> LinearEval                 metrics.json
    FinetuneMetrics   FineTuner -> the classifier's Blesser and pusher  metrics.json
    EvaluationMetrics LinearEval -> Blesser, RegistryPusher, the CLI  metrics.json
    Blessing          Blesser -> RegistryPusher, the CLI              blessing.json
    PushRecord        RegistryPusher -> the CLI                       push.json
    VersionMetadata   RegistryPusher -> a registry version            metadata.json (local registry)
    Champion          a registry -> DataFingerprint, Blesser          (read from the registry)
    RegistryVersion   a registry -> ``simclr-tfx registry list``
"""

from __future__ import annotations

from typing import Any, Dict, List, NamedTuple, Optional, Set, Type, TypeVar

from pydantic import BaseModel, ConfigDict

from shared import contract
from shared.stage_keys import StageKeys

R = TypeVar("R", bound="Record")


class Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def write(self, uri: str) -> None:
        from shared import uri_io  # TensorFlow's file system: loaded only when a record is written

        uri_io.write_json(uri, self.model_dump(mode="json"))

    @classmethod
    def read(cls: Type[R], uri: str) -> R:
        from shared import uri_io

        return cls.model_validate(uri_io.read_json(uri))


# --- ingestion --------------------------------------------------------------------------------------
class Snapshot(Record):
    """What DataFingerprint saw: the data's fingerprint, every stage's key, and whether to bless."""

    data: str
    data_fingerprint: str
    stage_keys: StageKeys
    bless: bool
    reason: str
    champion_version: Optional[str] = None


class SplitCount(Record):
    written: int = 0
    rejected: int = 0


class FileNote(Record):
    """One file that was rejected, ignored, or written with a warning, and why (``split``: None for ignored)."""

    path: str
    reason: str
    split: Optional[str] = None


class IgnoredFile(Record):
    """A file that is not part of the dataset (beside the split folders, OS litter), and why."""

    path: str
    reason: str


class Copy(Record):
    split: str
    path: str


class DuplicateGroup(Record):
    """Files with the same content (``sha256``); copies in more than one split leak test images into training."""

    sha256: str
    copies: List[Copy]

    @property
    def crosses_splits(self) -> bool:
        return len({copy.split for copy in self.copies}) > 1


class IngestReport(Record):
    """ImageExampleGen's account of every file: written per split, or rejected, ignored, or duplicated."""

    input: str
    classes: List[str]
    split_folders: Dict[str, str]  # the folder each split came from, e.g. {"train": "Train"}; {} without
    splits: Dict[str, SplitCount]
    found: int
    written: int
    rejected_total: int
    rejected: List[FileNote]
    ignored: List[IgnoredFile]
    warnings: List[FileNote]  # written, but worth a look
    duplicates: List[DuplicateGroup]
    cross_split_duplicates: List[DuplicateGroup]  # the duplicates whose copies are in more than one split


# --- evaluation and blessing ------------------------------------------------------------------------
class ProbeSummary(Record):
    """Linear probes on one label fraction, one per label draw (``top1_per_draw``)."""

    label_fraction: float
    labels_used: int
    top1_mean: float
    top1_sd: float
    top1_per_draw: List[float]
    chosen_c: List[float] = []  # the probe's regularisation per draw (none for the supervised baseline)
    subset_digests: List[str] = []
    steps: Optional[int] = None  # the supervised baseline's training steps per draw
    # Fine-tuning's: top-1 on the train images outside each draw's labelled subset (choosing settings on
    # these never looks at the evaluation split).
    heldout_top1_per_draw: List[float] = []


class BaselineMetrics(Record):
    """SupervisedBaseline's figures: the encoder trained from scratch on the probes' label subsets."""

    supervised: Dict[str, ProbeSummary]
    train_images: int
    test_images: int
    settings: Dict[str, Any]


class BlessingMetric(Record):
    label_fraction: float
    top1_mean: float


class FinetuneMetrics(Record):
    """FineTuner's figures: the classifier fine-tuned on the probes' label subsets (and their distilled
    students), and the one it exported (fine-tuned on every labelled train image, then distilled with
    ``finetune.distill``), each scored on the evaluation split. ``blessing_metric`` is
    the exported classifier's: what the classifier's Blesser reads."""

    finetuned: Dict[str, ProbeSummary]
    distilled: Dict[str, ProbeSummary] = {}  # students of the fine-tuned classifiers (``finetune.distill``)
    exported_top1: float
    exported_labels: int
    exported_distilled_images: int = 0  # images the exported classifier was distilled on (0: not distilled)
    blessing_metric: BlessingMetric
    classes: List[str]
    train_images: int
    test_images: int
    settings: Dict[str, Any]


class EvaluationMetrics(Record):
    """LinearEval's figures: probes per label fraction (keyed ``f"{fraction:g}"``), kNN, and where its plots are."""

    linear: Dict[str, ProbeSummary]
    knn_top1: float
    blessing_metric: BlessingMetric
    classes: List[str]
    feature_dim: int
    train_images: int
    test_images: int
    data_fingerprint: Optional[str] = None
    plots: Dict[str, str] = {}
    supervised_baseline: Optional[Dict[str, ProbeSummary]] = None
    pretraining: Optional[Dict[str, Any]] = None  # the last epoch of the Trainer's history


class Blessable(NamedTuple):
    """A metrics record that a Blesser judges and a pusher keeps with the version: its file in the
    evaluation artifact and the fields a registry version keeps."""

    record: Type[Record]
    file: str
    headline: Set[str]


BLESSABLE: Dict[str, Blessable] = {  # by the name the pipeline passes Blesser and RegistryPusher
    "encoder": Blessable(
        EvaluationMetrics, contract.EVALUATION_METRICS_FILE, {"linear", "knn_top1", "blessing_metric"}
    ),
    "classifier": Blessable(
        FinetuneMetrics, contract.FINETUNE_METRICS_FILE, {"finetuned", "exported_top1", "blessing_metric"}
    ),
}


class Blessing(Record):
    """Blesser's decision, the figures it compared, and why."""

    blessed: bool
    top1: float
    min_top1: float
    champion_tolerance: float
    champion_version: Optional[str] = None
    champion_top1: Optional[float] = None
    label_fraction: float
    reasons: List[str]


class PushRecord(Record):
    pushed: bool
    version: Optional[str] = None
    registry: str
    reasons: List[str]


# --- the registry -----------------------------------------------------------------------------------
class VersionMetadata(Record):
    """What a registry keeps with each version (the local registry adds ``model``, ``version``, ``pushed_at``)."""

    model_config = ConfigDict(frozen=True, extra="allow")

    metrics: Dict[str, Any]  # the headline figures of its metrics record (``BLESSABLE``), with blessing_metric
    blessing: Blessing
    config: Dict[str, Any]
    data_fingerprint: Optional[str] = None
    stage_keys: Dict[str, Optional[str]] = {}
    pipeline_name: Optional[str] = None
    pipeline_run_id: Optional[str] = None
    git_revision: str = "unknown"
    evaluation_report: Optional[str] = None
    source_model: Optional[str] = None
    encoder_version: Optional[str] = None  # a classifier's: the encoder version it was fine-tuned from


class Champion(Record):
    """The registry's champion as the retrain decision and the blessing read it."""

    version: str
    top1: Optional[float] = None
    stage_keys: Dict[str, Optional[str]] = {}


class RegistryVersion(Record):
    """One row of ``simclr-tfx registry list``."""

    version: str
    top1: Optional[float] = None
    created: Optional[str] = None
    aliases: List[str] = []
