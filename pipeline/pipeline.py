"""The SimCLR pipeline, defined once and shared by every orchestrator.

DataFingerprint (never cached) -> ImageExampleGen -> statistics -> schema -> validation
  -> anomaly gate -> transform -> SimCLR trainer -> embedding (Beam RunInference)
  -> linear evaluation -> [only when the champion is not already this model:] blessing
  -> push to the model registry
Every step after DataFingerprint is cached by what shapes its output (``shared/stage_keys.py``):
ImageExampleGen takes the data's survey as a value, and each step its own settings, so a
change re-runs the stage it shapes and those after it, and unchanged data is never ingested twice.
With ``supervised_baseline`` set, the encoder is also trained from scratch on the
probes' labelled subsets, and linear evaluation reports both side by side. With ``finetune`` set,
FineTuner fine-tunes the encoder into a classifier (SimCLR v2), scores it and exports it.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional

from tfx import v1 as tfx

from components.classifier.finetuner import FineTuner, FinetuneSettings
from components.evaluation.embedder import Embedder
from components.evaluation.linear_eval import LinearEval
from components.evaluation.settings import LinearEvalSettings, SupervisedBaselineSettings
from components.evaluation.supervised_baseline import SupervisedBaseline
from components.ingest import image_folder
from components.ingest.anomaly_gate import AnomalyGate
from components.ingest.data_fingerprint import BLESS_PROPERTY, SURVEY_KEY, DataFingerprint, survey_value
from components.ingest.image_example_gen import ImageExampleGen
from components.registry.blesser import Blesser
from components.registry.pusher import RegistryPusher
from components.training import resumable_trainer, vertex_trainer
from pipeline import schema
from pipeline.config import PipelineConfig
from shared import contract, stage_keys
from trainer import resumable

STAGES = ("examples", "ingest", "transform", "pretrain", "push")  # each stage adds components to the one before
PREPROCESSING_FN = "trainer.preprocessing.preprocessing_fn"
RUN_FN = "trainer.task.run_fn"
# Splits whose statistics neither shape the schema nor are checked against it: unlabelled images have no
# class, which the schema requires (ingestion still checks each one is an image; StatisticsGen describes them).
UNVALIDATED_SPLITS = (contract.UNLABELLED_SPLIT,)
# Steps that look at something no input names (the bucket, the registry): never served from a cache.
UNCACHED_STEPS = (contract.DATA_FINGERPRINT,)


def create_pipeline(
    config: PipelineConfig,
    pipeline_root: str,
    metadata_connection_config=None,
    beam_args: Optional[List[str]] = None,
    data_survey: Optional[image_folder.Survey] = None,
    until: str = STAGES[-1],
) -> tfx.dsl.Pipeline:
    """Builds the pipeline from one config; ``until`` names the last stage to include.

    The same function serves LocalDagRunner and KubeflowV2DagRunner: with ``config.vertex``
    set, the Trainer becomes a Vertex AI custom job and Beam steps run on Dataflow.
    ``data_survey`` is the input's listing (fingerprint and sizes) when the caller already has it
    (local runs); when None, DataFingerprint lists the data at run time (Vertex AI, where the bucket changes).
    DataFingerprint must run uncached: both runners arrange it (``UNCACHED_STEPS``).
    """
    if until not in STAGES:
        raise ValueError(f"until must be one of {STAGES}, not {until!r}")
    known_survey = survey_value(data_survey.fingerprint, data_survey.folder_bytes) if data_survey else ""
    fingerprint = DataFingerprint(
        data=config.data,
        settings=json.dumps(stage_keys.stage_settings(config.model_dump(mode="json")), sort_keys=True),
        registry=config.registry.model_dump_json(),
        # Only a full run (up to the push) can repeat the champion.
        skip_unchanged=int(config.skip_unchanged_data and until == STAGES[-1]),
        known_survey=known_survey,
    ).with_id(contract.DATA_FINGERPRINT)
    # The survey reaches ImageExampleGen as a value: known before the run locally (a parameter, since TFX's
    # local cache key would hold the artifact of a step never cached), read at run time on Vertex AI (a
    # parameter that DataFingerprint's task produces). Either way the step is keyed by the data's content.
    survey = known_survey or fingerprint.outputs[SURVEY_KEY].future()[0].value
    components = [fingerprint] + _stages(config, fingerprint, survey, until, pipeline_root)
    return tfx.dsl.Pipeline(
        pipeline_name=config.pipeline_name,
        pipeline_root=pipeline_root,
        components=components,
        enable_cache=config.enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=beam_args if beam_args is not None else config.steps_beam_args,
    )


def _stages(config: PipelineConfig, fingerprint, survey, until: str, pipeline_root: str) -> list:
    def included(stage: str) -> bool:
        return STAGES.index(until) >= STAGES.index(stage)

    example_gen = _example_gen(config, survey)
    example_gen.add_upstream_node(fingerprint)  # after it, whichever way the survey arrives
    components = [example_gen]
    if not included("ingest"):
        return components
    validation = _validation(config, example_gen, check_eval_split=included("pretrain"))
    components += validation
    if not included("transform"):
        return components
    schema_gen, anomaly_gate = validation[1], validation[-1]
    transform = tfx.components.Transform(
        examples=example_gen.outputs["examples"],
        schema=schema_gen.outputs["schema"],
        preprocessing_fn=PREPROCESSING_FN,
        custom_config={"stored_size": config.transform.stored_size},
        disable_statistics=True,
    ).with_id(contract.TRANSFORM)
    transform.add_upstream_node(anomaly_gate)
    components.append(transform)
    if not included("pretrain"):
        return components
    trainer = _trainer(config, example_gen, transform, pipeline_root)
    components.append(trainer)
    if included("push"):
        components += _evaluate_and_push(config, fingerprint, example_gen, transform, trainer)
    return components


def _example_gen(config: PipelineConfig, survey) -> ImageExampleGen:
    return (
        ImageExampleGen(
            survey=survey,
            input_base=config.data,
            split_buckets=dict(config.ingest.split_buckets),
            max_pixels=config.ingest.max_pixels,
            max_reject_fraction=config.ingest.max_reject_fraction,
            class_separator=config.ingest.class_separator,
            num_shards=config.ingest.num_shards,
            eval_split=config.eval_split,
            labels_file=config.ingest.labels_file or "",
        )
        .with_beam_pipeline_args(config.ingest_steps_beam_args)
        .with_id(contract.IMAGE_EXAMPLE_GEN)
    )


def _validation(config: PipelineConfig, example_gen, check_eval_split: bool) -> list:
    """StatisticsGen, SchemaGen (or the curated schema), ExampleValidator and AnomalyGate, in that order."""
    statistics_gen = tfx.components.StatisticsGen(
        examples=example_gen.outputs["examples"], stats_options=schema.statistics_options()
    ).with_id(contract.STATISTICS_GEN)
    if config.validation.schema_path:
        schema_gen = tfx.components.ImportSchemaGen(schema_file=config.validation.schema_path)
    else:
        schema_gen = tfx.components.SchemaGen(
            statistics=statistics_gen.outputs["statistics"],
            infer_feature_shape=True,
            exclude_splits=list(UNVALIDATED_SPLITS),
        ).with_id(contract.SCHEMA_GEN)
    example_validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"],
        schema=schema_gen.outputs["schema"],
        exclude_splits=list(UNVALIDATED_SPLITS),
    ).with_id(contract.EXAMPLE_VALIDATOR)
    # Training and evaluation read the eval split too: missing, it is a one-line error here.
    required = set(config.validation.required_splits) | ({config.eval_split} if check_eval_split else set())
    anomaly_gate = AnomalyGate(
        examples=example_gen.outputs["examples"],
        anomalies=example_validator.outputs["anomalies"],
        required_splits=json.dumps(sorted(required)),
    ).with_id(contract.ANOMALY_GATE)
    return [statistics_gen, schema_gen, example_validator, anomaly_gate]


def _trainer(config: PipelineConfig, example_gen, transform, pipeline_root: str):
    """The Trainer in-process, or as a Vertex AI custom job on the configured machine."""
    custom_config = {
        contract.TRAINING_CONFIG_KEY: config.training.model_dump_json(),
        # With the data's fingerprint (on the ingested examples), they key its checkpoints by content
        # instead of by its input URIs, which are new in every run.
        contract.INPUT_SETTINGS_KEY: stage_keys.settings_through(
            "transform", stage_keys.stage_settings(config.model_dump(mode="json"))
        ),
        # Outside every run's folder, so that a run submitted again after a failure resumes.
        contract.CHECKPOINT_ROOT_KEY: resumable.checkpoint_root(pipeline_root),
    }
    component = resumable_trainer.Trainer
    if config.vertex is not None:
        vertex = tfx.extensions.google_cloud_ai_platform
        component = vertex_trainer.VertexTrainer
        custom_config.update(
            {
                vertex.ENABLE_VERTEX_KEY: True,
                vertex.VERTEX_REGION_KEY: config.vertex.region,
                vertex.TRAINING_ARGS_KEY: vertex_training_job(config),
            }
        )
    return component(
        ingested=example_gen.outputs["examples"],
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        run_fn=RUN_FN,
        train_args=tfx.proto.TrainArgs(splits=[contract.TRAIN_SPLIT]),
        eval_args=tfx.proto.EvalArgs(splits=[config.eval_split]),
        custom_config=custom_config,
    ).with_id(contract.TRAINER)


def vertex_training_job(config: PipelineConfig) -> dict:
    """The Vertex AI CustomJob fields the Trainer's job is created with (TFX adds the command)."""
    from trainer import tpu_runtime

    vertex = config.require_vertex()
    container: Dict[str, Any] = {"image_uri": vertex.trainer.image or vertex.image}
    if vertex.trainer.tpu_generation:  # PJRT on v5e only; v3 keeps the stream executor (trainer/tpu_runtime.py)
        environment = tpu_runtime.environment(vertex.trainer.tpu_generation)
        container["env"] = [{"name": name, "value": value} for name, value in sorted(environment.items())]
    job_spec = {
        "worker_pool_specs": [
            {"machine_spec": vertex.trainer.machine_spec, "replica_count": 1, "container_spec": container}
        ],
        "service_account": vertex.service_account,
        # A preempted or failed worker is started again in the same job, so it resumes from its checkpoint.
        "scheduling": {"restart_job_on_worker_restart": True},
    }
    if vertex.network:
        job_spec["network"] = vertex.network
    if vertex.tensorboard:
        job_spec["tensorboard"] = vertex.tensorboard
        job_spec["base_output_directory"] = {"output_uri_prefix": f"{vertex.pipeline_root.rstrip('/')}/tensorboard"}
    return {
        "project": vertex.project,
        "job_spec": job_spec,
        "labels": {"pipeline": config.pipeline_name.lower(), "trainer-preset": vertex.trainer.preset, **vertex.labels},
    }


def _evaluate_and_push(config: PipelineConfig, fingerprint, example_gen, transform, trainer) -> list:
    evaluation = config.evaluation
    # What the probes and the supervised baseline share: splits, label fractions, encoder settings.
    labelled = dict(
        train_split=contract.TRAIN_SPLIT,
        eval_split=config.eval_split,
        label_fractions=evaluation.label_fractions,
        training=config.training,
    )
    baseline = None
    if config.supervised_baseline:
        baseline = SupervisedBaseline(
            examples=example_gen.outputs["examples"],
            transform_graph=transform.outputs["transform_graph"],
            settings=SupervisedBaselineSettings(
                **labelled, supervised_baseline=config.supervised_baseline
            ).model_dump_json(),
        ).with_id(contract.SUPERVISED_BASELINE)
    # Beam steps run on Dataflow on Vertex AI: the embeddings never pass through one process.
    embedder = Embedder(examples=example_gen.outputs["examples"], model=trainer.outputs["model"]).with_id(
        contract.EMBEDDER
    )
    linear_eval = LinearEval(
        examples=example_gen.outputs["examples"],
        embeddings=embedder.outputs["embeddings"],
        model_run=trainer.outputs["model_run"],
        baseline=baseline.outputs["baseline"] if baseline else None,
        settings=LinearEvalSettings(
            **labelled,
            label_draws=evaluation.label_draws,
            knn_k=evaluation.knn_k,
            tsne=evaluation.tsne,
            blessing_fraction=config.blessing.label_fraction,
        ).model_dump_json(),
    ).with_id(contract.LINEAR_EVAL)
    fine_tuner = _fine_tuner(config, example_gen, transform, trainer)
    # DataFingerprint's fresh artifact is an input of these two alone (TFX adds a Cond's channel to each
    # task under it), so only they miss the cache when it is new: they read the champion anyway.
    with tfx.dsl.Cond(fingerprint.outputs["snapshot"].future()[0].custom_property(BLESS_PROPERTY) == 1):
        registry_steps = _registry_steps(config, example_gen, trainer, linear_eval, fine_tuner)
    return (
        ([baseline] if baseline else [])
        + ([fine_tuner] if fine_tuner else [])
        + [embedder, linear_eval]
        + registry_steps
    )


def _registry_steps(config: PipelineConfig, example_gen, trainer, linear_eval, fine_tuner) -> list:
    """The encoder's Blesser and push, then, with a FineTuner, the classifier's, naming the encoder's push."""
    encoder_steps = _bless_and_push(
        config,
        example_gen,
        linear_eval.outputs["evaluation"],
        trainer.outputs["model"],
        "encoder",
        model_run=trainer.outputs["model_run"],
    )
    if not fine_tuner:
        return encoder_steps
    return encoder_steps + _bless_and_push(
        config,
        example_gen,
        fine_tuner.outputs["evaluation"],
        fine_tuner.outputs["model"],
        "classifier",
        encoder_push=encoder_steps[1].outputs["pushed_model"],
    )


def _fine_tuner(config: PipelineConfig, example_gen, transform, trainer):
    """The classifier fine-tuned from the Trainer's final checkpoint (FineTuner), or None without ``finetune``."""
    if not config.finetune:
        return None
    return FineTuner(
        examples=example_gen.outputs["examples"],
        transform_graph=transform.outputs["transform_graph"],
        model_run=trainer.outputs["model_run"],
        settings=FinetuneSettings(
            eval_split=config.eval_split, training=config.training, finetune=config.finetune
        ).model_dump_json(),
    ).with_id(contract.FINE_TUNER)


REGISTRY_STEP_IDS = {
    "encoder": (contract.BLESSER, contract.REGISTRY_PUSHER),
    "classifier": (contract.CLASSIFIER_BLESSER, contract.CLASSIFIER_PUSHER),
}


def _bless_and_push(config: PipelineConfig, example_gen, evaluation, model, kind: str, **pusher_inputs) -> list:
    """A Blesser of ``evaluation`` (its top-1 against ``blessing`` and the model's champion) and the
    RegistryPusher of ``model``, for one registry model: the encoder (``registry.model_name``) or the
    classifier (``registry.classifier_model_name``, ``pusher_inputs`` naming the encoder's push)."""
    registry = (config.registry if kind == "encoder" else config.registry.for_classifier()).model_dump_json()
    blesser_id, pusher_id = REGISTRY_STEP_IDS[kind]
    blesser = Blesser(
        evaluation=evaluation,
        min_top1=config.blessing.min_top1,
        champion_tolerance=config.blessing.champion_tolerance,
        registry=registry,
        model_kind=kind,
    ).with_id(blesser_id)
    pusher = RegistryPusher(
        model=model,
        model_blessing=blesser.outputs["blessing"],
        evaluation=evaluation,
        examples=example_gen.outputs["examples"],
        registry=registry,
        pipeline_config=config.model_dump_json(),
        model_kind=kind,
        **pusher_inputs,
    ).with_id(pusher_id)
    return [blesser, pusher]
