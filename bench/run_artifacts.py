"""What one Trainer execution of a finished `simclr-tfx run` read and wrote, from the run's MLMD store.

The benchmarks that read a run (serving_size, head_features, finetune_levers, levers) score an encoder
on the very examples and Transform graph it was trained from. Newest folders are not that: runs that
share an output folder (bench/levers.py) take ingestion from the cache, and a variant that stores other
image sizes leaves a newer Transform folder than the next variant reads.
"""

from __future__ import annotations

import dataclasses
import pathlib

from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2

from pipeline.local_runner import DONE, artifacts_by_key
from shared import contract

READ = (metadata_store_pb2.Event.INPUT, metadata_store_pb2.Event.OUTPUT)


@dataclasses.dataclass(frozen=True)
class TrainerArtifacts:
    """URIs of a Trainer execution's inputs and outputs (a cached execution's are its original's)."""

    execution_id: int
    examples: str  # ImageExampleGen's examples that the Transform graph was analysed on
    transform_graph: str  # Transform's graph, which the Trainer read
    model: str  # the exported encoder (Trainer/model/<id>)
    model_run: str  # checkpoints and logs (Trainer/model_run/<id>)


def trainer_executions(store: metadata_store.MetadataStore) -> list:
    """Every completed or cached Trainer execution in the store, oldest first (any pipeline name)."""
    contexts = [c for c in store.get_contexts_by_type("node") if c.name.endswith(f".{contract.TRAINER}")]
    executions = [e for c in contexts for e in store.get_executions_by_context(c.id) if e.last_known_state in DONE]
    return sorted(executions, key=lambda e: (e.create_time_since_epoch, e.id))


def trainer_artifacts(run_output: pathlib.Path, execution_id: int = 0) -> TrainerArtifacts:
    """The artifacts of Trainer execution ``execution_id`` of the run in ``run_output`` (0: the newest)."""
    metadata = run_output / "metadata.sqlite"
    if not metadata.exists():
        raise SystemExit(f"{run_output}: no metadata.sqlite; pass the --output folder of a `simclr-tfx run`")
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = str(metadata)
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    store = metadata_store.MetadataStore(config)
    executions = trainer_executions(store)
    chosen = [e for e in executions if e.id == execution_id] if execution_id else executions[-1:]
    if not chosen:
        known = ", ".join(str(e.id) for e in executions) or "none"
        raise SystemExit(f"{run_output}: no Trainer execution {execution_id or ''} (completed ones: {known})")
    trainer = artifacts_by_key(store, chosen[0].id, READ)
    transform = artifacts_by_key(store, _producer(store, trainer["transform_graph"][0].id), READ)
    return TrainerArtifacts(
        chosen[0].id,
        transform["examples"][0].uri,
        trainer["transform_graph"][0].uri,
        trainer["model"][0].uri,
        trainer["model_run"][0].uri,
    )


def _producer(store: metadata_store.MetadataStore, artifact_id: int) -> int:
    """The execution that wrote an artifact (its first OUTPUT event: later cached executions reuse it)."""
    events = [e for e in store.get_events_by_artifact_ids([artifact_id]) if e.type == metadata_store_pb2.Event.OUTPUT]
    return min(events, key=lambda e: e.execution_id).execution_id


def config_name(given: str, tiny: bool) -> str:
    """The config a benchmark reads: the one given (a name or file), else `smoke` in a tiny mode and `local`."""
    return given or ("smoke" if tiny else "local")
