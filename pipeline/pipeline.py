"""The SimCLR pipeline, defined once and shared by every orchestrator.

ImageExampleGen -> statistics -> schema -> validation -> anomaly gate -> transform
  -> SimCLR trainer -> linear evaluation -> blessing -> push to the model registry
"""

from __future__ import annotations

import json
from typing import List, Optional

from tfx import v1 as tfx

from components.anomaly_gate import AnomalyGate
from components.image_example_gen import ImageExampleGen
from components.linear_eval import LinearEval
from components.registry_pusher import Blesser, RegistryPusher
from pipeline.config import PipelineConfig
from trainer.task import TRAINING_CONFIG_KEY

STAGES = ("examples", "ingest", "transform", "pretrain", "push")  # each stage adds components to the one before
PREPROCESSING_FN = "trainer.preprocessing.preprocessing_fn"
RUN_FN = "trainer.task.run_fn"


def create_pipeline(
    config: PipelineConfig,
    pipeline_root: str,
    metadata_connection_config=None,
    beam_pipeline_args: Optional[List[str]] = None,
    input_fingerprint: str = "",
    until: str = STAGES[-1],
) -> tfx.dsl.Pipeline:
    """Builds the pipeline from one config; ``until`` names the last stage to include."""
    if until not in STAGES:
        raise ValueError(f"until must be one of {STAGES}, not {until!r}")
    example_gen = ImageExampleGen(
        input_base=config.data,
        split_buckets=dict(config.ingest.split_buckets),
        max_pixels=config.ingest.max_pixels,
        max_reject_fraction=config.ingest.max_reject_fraction,
        class_separator=config.ingest.class_separator,
        input_fingerprint=input_fingerprint,
    ).with_beam_pipeline_args(list(config.ingest.beam_args))
    components = [example_gen]
    if STAGES.index(until) < STAGES.index("ingest"):
        return _pipeline(config, pipeline_root, components, metadata_connection_config, beam_pipeline_args)

    statistics_gen = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"])
    if config.validation.schema_path:
        schema_gen = tfx.components.ImportSchemaGen(schema_file=config.validation.schema_path)
    else:
        schema_gen = tfx.components.SchemaGen(statistics=statistics_gen.outputs["statistics"], infer_feature_shape=True)
    example_validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"]
    )
    anomaly_gate = AnomalyGate(
        examples=example_gen.outputs["examples"],
        anomalies=example_validator.outputs["anomalies"],
        required_splits=json.dumps(list(config.validation.required_splits)),
    )
    components += [statistics_gen, schema_gen, example_validator, anomaly_gate]

    if STAGES.index(until) >= STAGES.index("transform"):
        transform = tfx.components.Transform(
            examples=example_gen.outputs["examples"],
            schema=schema_gen.outputs["schema"],
            preprocessing_fn=PREPROCESSING_FN,
            custom_config={"stored_size": config.transform.stored_size},
            disable_statistics=True,
        )
        transform.add_upstream_node(anomaly_gate)
        components.append(transform)

    if STAGES.index(until) >= STAGES.index("pretrain"):
        trainer = tfx.components.Trainer(
            run_fn=RUN_FN,
            examples=transform.outputs["transformed_examples"],
            transform_graph=transform.outputs["transform_graph"],
            train_args=tfx.proto.TrainArgs(splits=["train"]),
            eval_args=tfx.proto.EvalArgs(splits=[config.eval_split]),
            custom_config={TRAINING_CONFIG_KEY: config.training.model_dump_json()},
        )
        components.append(trainer)

    if STAGES.index(until) >= STAGES.index("push"):
        components += _evaluate_and_push(config, example_gen, trainer)

    return _pipeline(config, pipeline_root, components, metadata_connection_config, beam_pipeline_args)


def _evaluate_and_push(config: PipelineConfig, example_gen, trainer) -> list:
    evaluation = config.evaluation
    linear_eval = LinearEval(
        examples=example_gen.outputs["examples"],
        model=trainer.outputs["model"],
        model_run=trainer.outputs["model_run"],
        settings=json.dumps({
            "train_split": "train", "eval_split": config.eval_split,
            "label_fractions": list(evaluation.label_fractions), "seeds": evaluation.seeds,
            "knn_k": evaluation.knn_k, "tsne": evaluation.tsne,
            "blessing_fraction": config.blessing.label_fraction,
            "training": config.training.model_dump(mode="json"),
        }, sort_keys=True),
    )
    blesser = Blesser(
        evaluation=linear_eval.outputs["evaluation"],
        min_top1=config.blessing.min_top1,
        champion_tolerance=config.blessing.champion_tolerance,
        registry=config.registry.model_dump_json(),
    )
    pusher = RegistryPusher(
        model=trainer.outputs["model"],
        model_blessing=blesser.outputs["blessing"],
        evaluation=linear_eval.outputs["evaluation"],
        examples=example_gen.outputs["examples"],
        registry=config.registry.model_dump_json(),
        pipeline_config=config.model_dump_json(),
    )
    return [linear_eval, blesser, pusher]


def _pipeline(config, pipeline_root, components, metadata_connection_config, beam_pipeline_args) -> tfx.dsl.Pipeline:
    return tfx.dsl.Pipeline(
        pipeline_name=config.pipeline_name,
        pipeline_root=pipeline_root,
        components=components,
        enable_cache=config.enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=beam_pipeline_args if beam_pipeline_args is not None else list(config.beam_args),
    )
