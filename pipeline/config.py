"""One typed configuration for the whole pipeline, loaded from YAML.

Named configs live in ``pipeline/configs/<name>.yaml``; any other YAML file can
be passed by path. A config can start from another with ``extends: <name or path>``
(a relative path is taken from the extending file's folder). Every setting is
validated on load, and a bad one is reported as a single line naming the file
and the setting.
"""

from __future__ import annotations

import pathlib
import re
from typing import Any, Dict, List, Literal, Optional, Tuple

import pydantic
import yaml
from pydantic import Field, PositiveInt

from components.registry.config import RegistryConfig
from trainer import tpu_memory
from trainer.config import FinetuneConfig, Section, SupervisedBaselineConfig, TrainingConfig

CONFIG_DIR = pathlib.Path(__file__).parent / "configs"
# Vertex AI pipeline job IDs are "<pipeline name>-<YYYYmmddHHMMSS>" and must match [a-z][-a-z0-9]{0,127}
# (google-cloud-aiplatform's pipeline constants); TFX's KubeflowV2 compiler wants [a-z0-9][a-z0-9-]{0,127}.
VERTEX_PIPELINE_NAME = re.compile(r"^[a-z][a-z0-9-]{0,112}$")


class ConfigError(ValueError):
    """A configuration file or setting is missing or invalid."""


class IngestConfig(Section):
    """How an image folder becomes TFRecords."""

    split_buckets: Dict[str, PositiveInt] = Field(
        default_factory=lambda: {"train": 8, "test": 2},
        description="Hash buckets per split, used only when the data has no split folders.",
    )
    max_pixels: PositiveInt = Field(50_000_000, description="Images above this many pixels are rejected undecoded.")
    max_reject_fraction: float = Field(
        0.05, ge=0.0, le=1.0, description="More rejected files than this fraction stop ingestion."
    )
    class_separator: str = Field("_", min_length=1, description="For <class><sep><anything>.ext file names.")
    num_shards: int = Field(
        0, ge=0, description="TFRecord shards per split; 0: about 150 MB each, sized from the data."
    )
    labels_file: Optional[str] = Field(
        None,
        description="CSV of '<relative path>,<class>' rows for images in no class folder (ImageNet's "
        "flat val/); with it, file-name prefixes are not classes. Keep it inside the data folder so that "
        "a change to it changes the data's fingerprint.",
    )
    # Empty by default: the pipeline's in_memory DirectRunner streams; multi_threading held every
    # record in memory at 200,000 images (bench/RESULTS.md, "Scale").
    beam_args: List[str] = Field(
        default_factory=list, description="Beam options for ImageExampleGen only, over the pipeline's beam_args."
    )


class ValidationConfig(Section):
    """Data validation with TFDV."""

    schema_path: Optional[str] = Field(
        None, description="A curated schema.pbtxt; when unset, SchemaGen infers one each run."
    )
    required_splits: Tuple[str, ...] = Field(("train",), description="Splits that must exist (AnomalyGate).")


class TransformConfig(Section):
    """The tensorflow-transform preprocessing graph."""

    stored_size: PositiveInt = Field(128, description="Shorter image side after preprocessing, in pixels.")


class EvaluationConfig(Section):
    """Linear evaluation of the frozen encoder on few labels, and a kNN check."""

    label_fractions: Tuple[float, ...] = Field((0.01, 0.1, 1.0), description="Fractions of the train labels probed.")
    label_draws: PositiveInt = Field(
        5, description="Label subsets drawn per fraction; results are mean and sd over them."
    )
    knn_k: PositiveInt = Field(20, description="Neighbours of the kNN classifier.")
    tsne: bool = Field(True, description="Draw a t-SNE PNG of the test features.")

    @pydantic.field_validator("label_fractions")
    @classmethod
    def _fractions_in_range(cls, fractions):
        if not fractions or any(not 0.0 < fraction <= 1.0 for fraction in fractions):
            raise ValueError("every label fraction must be in (0, 1]")
        return tuple(sorted(set(fractions)))


class BlessingConfig(Section):
    """When a pretrained encoder is good enough to push."""

    label_fraction: float = Field(0.1, description="The probe whose top-1 decides; one of evaluation.label_fractions.")
    min_top1: float = Field(0.5, ge=0.0, le=1.0, description="Absolute floor for that top-1.")
    champion_tolerance: float = Field(
        0.02, ge=0.0, le=1.0, description="Blessed only if top-1 >= the registry champion's minus this."
    )


# Vertex AI custom-job machines for the Trainer; "replicas" is what the trainer's strategy will find.
# A preset with a TPU "generation" needs vertex.trainer.image: the Dockerfile's tpu target (libtpu,
# TPU-VM TensorFlow); its replicas' memory bounds the batch (trainer/tpu_memory.py).
TRAINER_MACHINES: Dict[str, Dict[str, Any]] = {
    # TPU v5e, one host with 4 chips (TPUStrategy, 4 replicas).
    "tpu": {
        "machine_spec": {"machine_type": "ct5lp-hightpu-4t", "tpu_topology": "2x2"},
        "replicas": 4,
        "generation": "v5e",
    },
    # TPU v5e, one host with 8 chips.
    "tpu-v5e-8": {
        "machine_spec": {"machine_type": "ct5lp-hightpu-8t", "tpu_topology": "2x4"},
        "replicas": 8,
        "generation": "v5e",
    },
    # TPU v3-8 through the legacy cloud-tpu machine (TPUStrategy, 8 replicas: one per core).
    "tpu-v3": {
        "machine_spec": {"machine_type": "cloud-tpu", "accelerator_type": "TPU_V3", "accelerator_count": 8},
        "replicas": 8,
        "generation": "v3",
    },
    # One A100 (the default strategy); a2-highgpu-2g/4g/8g would use MirroredStrategy.
    "gpu": {
        "machine_spec": {
            "machine_type": "a2-highgpu-1g",
            "accelerator_type": "NVIDIA_TESLA_A100",
            "accelerator_count": 1,
        },
        "replicas": 1,
    },
    "cpu": {"machine_spec": {"machine_type": "n2-standard-16"}, "replicas": 1},
}


class DataflowConfig(Section):
    """Beam on Dataflow for ingestion, statistics and Transform (Vertex runs only)."""

    region: Optional[str] = Field(None, description="Dataflow region (default: vertex.region).")
    temp_location: str = Field(..., description="gs:// folder for Dataflow's temporary files.")
    machine_type: str = Field("n2-standard-4", description="Dataflow workers' machine type.")
    max_workers: PositiveInt = Field(10, description="Dataflow's autoscaling ceiling.")
    disk_size_gb: PositiveInt = Field(50, description="Each worker's disk.")
    subnetwork: Optional[str] = Field(
        None,
        description="Workers' subnetwork, needed on a custom-mode VPC: regions/<region>/subnetworks/<name> "
        "or a full URL (Dataflow's --subnetwork).",
    )

    @pydantic.field_validator("temp_location")
    @classmethod
    def _on_gcs(cls, value: str) -> str:
        return _require_gcs(value, "temp_location")


class TrainerMachineConfig(Section):
    """The Vertex AI custom job that runs the Trainer."""

    preset: Literal["tpu", "tpu-v5e-8", "tpu-v3", "gpu", "cpu"] = Field(
        "tpu", description="The training machine (docs/cloud.md's table); TPU presets bound the batch per replica."
    )
    image: Optional[str] = Field(
        None,
        description="Container for the training job (default: vertex.image). TPU presets need the TPU image "
        "(the Dockerfile's tpu target, `make image`), which has libtpu and TPU-VM TensorFlow.",
    )

    @property
    def tpu_generation(self) -> Optional[str]:
        """``v5e`` or ``v3`` on a TPU preset, else None."""
        return TRAINER_MACHINES[self.preset].get("generation")

    @property
    def needs_tpu_image(self) -> bool:
        return self.tpu_generation is not None

    @property
    def replicas(self) -> int:
        return TRAINER_MACHINES[self.preset]["replicas"]

    @property
    def machine_spec(self) -> Dict[str, Any]:
        return dict(TRAINER_MACHINES[self.preset]["machine_spec"])


class ScheduleConfig(Section):
    """Scheduled retraining with a Vertex AI PipelineJobSchedule."""

    cron: str = Field("0 3 * * 1", description="Unix cron, optionally prefixed with TZ=<zone>.")
    max_concurrent_runs: PositiveInt = Field(1, description="1: two retrains never overlap.")
    display_name: Optional[str] = Field(None, description="Default: <pipeline_name>-retrain.")


class VertexConfig(Section):
    """Where and how the pipeline runs on Vertex AI Pipelines."""

    project: str = Field(..., min_length=1, description="The Google Cloud project ID.")
    region: str = Field(..., min_length=1, description="Vertex AI's region (and Dataflow's by default).")
    pipeline_root: str = Field(..., description="gs:// folder for every artifact of every run.")
    image: str = Field(
        ...,
        description="The project's container image, run by every step and Dataflow worker: name@sha256:<digest>, "
        "or the repository that `make image` pushed, whose digest compile reads from image_record.",
    )
    image_record: str = Field(
        "infra/images.json",
        description="Where `make image` records the digests it pushed; compile pins the images by it.",
    )
    service_account: str = Field(..., description="The pipeline service account (infra/ outputs it).")
    network: Optional[str] = Field(
        None, description="VPC network for peering: projects/<number>/global/networks/<name>."
    )
    tensorboard: Optional[str] = Field(None, description="Vertex AI TensorBoard resource for the training job.")
    dataflow: DataflowConfig
    trainer: TrainerMachineConfig = Field(default_factory=TrainerMachineConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    labels: Dict[str, str] = Field(default_factory=dict, description="Labels on every PipelineJob.")

    @pydantic.field_validator("pipeline_root")
    @classmethod
    def _root_on_gcs(cls, value: str) -> str:
        return _require_gcs(value, "pipeline_root")

    @pydantic.field_validator("service_account")
    @classmethod
    def _is_service_account(cls, value: str) -> str:
        if not value.endswith(".iam.gserviceaccount.com"):
            raise ValueError(f"expected a service account e-mail (...iam.gserviceaccount.com), not {value!r}")
        return value

    def dataflow_beam_args(self) -> List[str]:
        """Beam options that send every Beam step (ingestion, TFDV, Transform) to Dataflow."""
        args = [
            "--runner=DataflowRunner",
            f"--project={self.project}",
            f"--region={self.dataflow.region or self.region}",
            f"--temp_location={self.dataflow.temp_location}",
            f"--service_account_email={self.service_account}",
            f"--machine_type={self.dataflow.machine_type}",
            f"--max_num_workers={self.dataflow.max_workers}",
            f"--disk_size_gb={self.dataflow.disk_size_gb}",
            "--experiments=use_runner_v2",
            f"--sdk_container_image={self.image}",
        ]
        if self.network:
            args.append(f"--network={self.network.rsplit('/', 1)[-1]}")
        if self.dataflow.subnetwork:
            args.append(f"--subnetwork={self.dataflow.subnetwork}")
        return args


def _first_placeholder(settings: Any, prefix: str = "") -> Optional[Tuple[str, str]]:
    """The first setting still holding a <placeholder> from the shipped template, as (setting, value)."""
    items = settings.items() if isinstance(settings, dict) else enumerate(settings)
    for key, value in items:
        where = f"{prefix}{key}" if isinstance(settings, dict) else f"{prefix[:-1]}[{key}]"
        if isinstance(value, (dict, list)):
            found = _first_placeholder(value, f"{where}.")
            if found:
                return found
        elif isinstance(value, str) and re.search(r"<[^<>]+>", value):
            return where, value
    return None


def _require_gcs(value: str, setting: str) -> str:
    if not value.startswith("gs://") or len(value) <= len("gs://"):
        raise ValueError(f"{setting} must be a gs:// path on Vertex AI, not {value!r}")
    return value


class PipelineConfig(Section):
    """Everything one pipeline run needs; stages read only their own section."""

    pipeline_name: str = Field(
        "simclr-tfx",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
        description="The TFX pipeline and ML Metadata context; on Vertex AI lowercase letters, digits and '-'.",
    )
    data: str = Field("data/imagenet-5-categories", description="The image folder, local or gs:// (--data).")
    output: str = Field("runs/local", description="Run folder: metadata, artifacts, compiled specs (--output).")
    pipeline_root: Optional[str] = Field(
        None, description="Local runs: where artifacts go, a folder or gs:// URI (default <output>/pipeline_root)."
    )
    # One DirectRunner worker for the TFDV and Transform Beam jobs: their multi-threaded runs here
    # failed intermittently inside Beam's coders ("Invalid PaneInfoEncoding"). Ingestion has its own.
    beam_args: List[str] = Field(
        default_factory=lambda: ["--direct_num_workers=1"], description="Beam options of the TFDV and Transform steps."
    )
    enable_cache: bool = Field(True, description="TFX caching (Vertex AI's on Vertex): each step keyed by its inputs.")
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    validation: ValidationConfig = Field(default_factory=ValidationConfig)
    transform: TransformConfig = Field(default_factory=TransformConfig)
    recipe: str = Field(
        "paper", description="Preset training settings (pipeline/configs/recipes/<name>.yaml) under 'training'."
    )
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    eval_split: str = Field("test", description="The labelled split that evaluation and the kNN monitor use.")
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    blessing: BlessingConfig = Field(default_factory=BlessingConfig)
    supervised_baseline: Optional[SupervisedBaselineConfig] = Field(
        None,
        description="Set to also train the encoder from scratch on the probes' labelled subsets (benchmark config).",
    )
    finetune: Optional[FinetuneConfig] = Field(
        None, description="Set to fine-tune the encoder into a classifier (SimCLR v2), score it and export it."
    )
    registry: RegistryConfig = Field(default_factory=RegistryConfig)
    skip_unchanged_data: bool = Field(
        True,
        description="Bless and push nothing when the champion was made from this data and these settings "
        "(shared/stage_keys.py).",
    )
    vertex: Optional[VertexConfig] = Field(None, description="Set to run on Vertex AI Pipelines (compile, submit).")

    @pydantic.model_validator(mode="after")
    def _two_registry_models(self):
        if self.finetune and self.registry.model_name == self.registry.classifier_model_name:
            raise ValueError(
                f"registry.classifier_model_name must differ from registry.model_name ({self.registry.model_name!r}): "
                "the encoder and the classifier are two models of the registry"
            )
        return self

    @pydantic.model_validator(mode="after")
    def _vertex_is_consistent(self):
        if self.vertex is None:
            return self
        placeholder = _first_placeholder(self.model_dump(mode="json"))
        if placeholder:
            raise ValueError(
                f"replace the placeholder in '{placeholder[0]}': {placeholder[1]!r} (terraform output vertex_yaml)"
            )
        if not VERTEX_PIPELINE_NAME.match(self.pipeline_name):
            raise ValueError(
                f"setting 'pipeline_name': {self.pipeline_name!r} cannot name Vertex AI pipeline jobs: use lowercase "
                "letters, digits and '-', starting with a letter, at most 113 characters (the job ID adds a "
                "15-character time)"
            )
        if not self.data.startswith("gs://"):
            raise ValueError(f"data must be a gs:// path on Vertex AI, not {self.data!r}")
        self._check_vertex_registry(self.vertex)
        self._check_vertex_trainer(self.vertex.trainer)
        return self

    def _check_vertex_registry(self, vertex: VertexConfig) -> None:
        if self.registry.kind != "vertex":
            raise ValueError(
                "setting 'registry.kind': a Vertex AI run pushes from a container that keeps no files, so its "
                "registry is 'vertex' (Vertex AI Model Registry), not 'local'"
            )
        model_root = self.registry.model_root or ""
        if model_root.rstrip("/").startswith(vertex.pipeline_root.rstrip("/")):
            raise ValueError(
                f"setting 'registry.model_root': {model_root!r} is inside vertex.pipeline_root, whose runs "
                "expire (infra/ lifecycle rule); keep pushed models outside it, e.g. gs://<bucket>/models"
            )

    def _check_vertex_trainer(self, trainer: TrainerMachineConfig) -> None:
        assert self.vertex is not None
        if trainer.needs_tpu_image and trainer.image in (None, self.vertex.image):
            raise ValueError(
                f"setting 'vertex.trainer.image': the '{trainer.preset}' trainer preset needs the TPU image "
                "(libtpu and TPU-VM TensorFlow; `make image` builds and pushes it, terraform output tpu_image), "
                "not the pipeline image"
            )
        replicas, batch = trainer.replicas, self.training.batch_size
        if batch % replicas:
            raise ValueError(
                f"training.batch_size {batch} cannot be split across the {replicas} replicas "
                f"of the '{trainer.preset}' trainer: use a multiple of {replicas}"
            )
        generation = trainer.tpu_generation
        most = tpu_memory.max_images_per_replica(self.training, generation) if generation else batch
        if batch // replicas > most:
            raise ValueError(
                f"setting 'training.batch_size': {batch} is {batch // replicas} images per replica of the "
                f"'{trainer.preset}' trainer, more than the {most} that one {trainer.tpu_generation} replica holds "
                f"at this encoder and image size (trainer/tpu_memory.py): use at most {most * replicas}"
            )

    def require_vertex(self) -> VertexConfig:
        """The ``vertex`` section; a one-line ConfigError when the config has none."""
        if self.vertex is None:
            raise ConfigError(
                f"config for pipeline '{self.pipeline_name}' has no 'vertex' section: "
                "start from pipeline/configs/vertex.yaml"
            )
        return self.vertex

    @property
    def steps_beam_args(self) -> List[str]:
        """Beam options for every Beam step: ``beam_args`` (DirectRunner) locally, Dataflow's on Vertex AI."""
        return self.vertex.dataflow_beam_args() if self.vertex else list(self.beam_args)

    @property
    def ingest_steps_beam_args(self) -> List[str]:
        """ImageExampleGen's own options on top of ``steps_beam_args`` (``ingest.beam_args``; local runs only)."""
        return [] if self.vertex else list(self.ingest.beam_args)

    @pydantic.model_validator(mode="after")
    def _blessing_uses_a_probed_fraction(self):
        if self.blessing.label_fraction not in self.evaluation.label_fractions:
            raise ValueError(
                f"blessing.label_fraction {self.blessing.label_fraction} is not one of "
                f"evaluation.label_fractions {list(self.evaluation.label_fractions)}"
            )
        return self


def available_configs() -> List[str]:
    return sorted(path.stem for path in CONFIG_DIR.glob("*.yaml"))


def _resolve(name_or_path: str) -> pathlib.Path:
    candidate = pathlib.Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml") or candidate.exists():
        if not candidate.is_file():
            raise ConfigError(f"config file {name_or_path} does not exist")
        return candidate
    named = CONFIG_DIR / f"{name_or_path}.yaml"
    if not named.is_file():
        raise ConfigError(
            f"unknown config '{name_or_path}': use one of {', '.join(available_configs())} or a path to a YAML file"
        )
    return named


def _format_error(source: str, error: pydantic.ValidationError) -> str:
    first = error.errors()[0]
    message = first["msg"].removeprefix("Value error, ")
    more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
    if not first["loc"]:  # a check across settings names them itself
        return f"config {source}: {message}{more}"
    where = ".".join(str(part) for part in first["loc"])
    return f"config {source}: setting '{where}': {message}{more}"


def _merge(base: Dict[str, Any], override: Dict[str, Any]) -> Dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        merged[key] = (
            _merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
        )
    return merged


RECIPE_DIR = CONFIG_DIR / "recipes"


def _recipe(name: Any, source: Any) -> Dict[str, Any]:
    """The training settings of a named recipe (``pipeline/configs/recipes/<name>.yaml``)."""
    path = RECIPE_DIR / f"{name}.yaml"
    if not isinstance(name, str) or not path.is_file():
        known = ", ".join(sorted(p.stem for p in RECIPE_DIR.glob("*.yaml")))
        raise ConfigError(f"config {source}: setting 'recipe': unknown recipe {name!r}: use one of {known}")
    return yaml.safe_load(path.read_text()) or {}


def _with_recipe(settings: Dict[str, Any], layer: Dict[str, Any], source: Any) -> Dict[str, Any]:
    """``layer`` over ``settings``; a recipe the layer names goes between them, under the layer's own training."""
    if "recipe" in layer:
        settings = _merge(settings, {"training": _recipe(layer["recipe"], source)})
    return _merge(settings, layer)


def _read_settings(path: pathlib.Path, extended_by: Tuple[pathlib.Path, ...] = ()) -> Dict[str, Any]:
    """A config file's settings, on top of those of the config it names in ``extends``, if any.

    A ``recipe`` the file names applies over what it extends and under the file's own ``training``.
    """
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"config {path}: not valid YAML: {str(error).splitlines()[0]}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"config {path}: expected a mapping of settings at the top level")
    base = raw.pop("extends", None)
    if base is None:
        return _with_recipe({}, raw, path)
    relative = path.parent / str(base)
    base_path = _resolve(str(relative) if relative.suffix in (".yaml", ".yml") else str(base))
    chain = extended_by + (path.resolve(),)  # resolved: two spellings of one file are one file
    if base_path.resolve() in chain:
        cycle = " -> ".join(str(link) for link in chain + (base_path.resolve(),))
        raise ConfigError(f"config {path}: setting 'extends': {base!r} makes a cycle ({cycle})")
    return _with_recipe(_read_settings(base_path, chain), raw, path)


def load_config(name_or_path: str = "local", **overrides: Any) -> PipelineConfig:
    """Loads a named config or a YAML file, then merges in the overrides that are not None."""
    path = _resolve(name_or_path)
    raw = _with_recipe(
        _read_settings(path), {key: value for key, value in overrides.items() if value is not None}, path
    )
    try:
        return PipelineConfig.model_validate(raw)
    except pydantic.ValidationError as error:
        raise ConfigError(_format_error(str(path), error)) from None
