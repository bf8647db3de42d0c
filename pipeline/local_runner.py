"""Runs the pipeline on this machine: LocalDagRunner, DirectRunner Beam, SQLite MLMD under the output dir."""

from __future__ import annotations

import dataclasses
import os
from typing import Callable, Dict, List, Optional, Sequence

from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2
from tfx import v1 as tfx

from components.ingest import image_folder
from pipeline.config import PipelineConfig
from pipeline.pipeline import UNCACHED_STEPS, create_pipeline
from pipeline.progress import ProgressWatcher

DONE = (metadata_store_pb2.Execution.COMPLETE, metadata_store_pb2.Execution.CACHED)  # states whose outputs exist
OUTPUTS = (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.DECLARED_OUTPUT)


@dataclasses.dataclass(frozen=True)
class LocalRun:
    output: str  # a local folder: the MLMD SQLite store (and, by default, the artifacts)
    pipeline_name: str
    root: Optional[str] = None  # where the artifacts go, a folder or a gs:// URI; default <output>/pipeline_root

    @property
    def pipeline_root(self) -> str:
        return self.root or os.path.join(self.output, "pipeline_root")

    @property
    def metadata_path(self) -> str:
        return os.path.join(self.output, "metadata.sqlite")

    def store(self) -> metadata_store.MetadataStore:
        return metadata_store.MetadataStore(
            tfx.orchestration.metadata.sqlite_metadata_connection_config(self.metadata_path)
        )

    def _latest_execution(
        self, component_id: str, store: Optional[metadata_store.MetadataStore] = None
    ) -> Optional[metadata_store_pb2.Execution]:
        store = store or self.store()
        context = store.get_context_by_type_and_name("node", f"{self.pipeline_name}.{component_id}")
        executions = store.get_executions_by_context(context.id) if context else []
        return max(executions, key=lambda e: (e.create_time_since_epoch, e.id)) if executions else None

    def executions_since(self, component_ids: Sequence[str], since_ms: int) -> Dict[str, metadata_store_pb2.Execution]:
        """Each component's latest execution created at or after ``since_ms`` (ms since the epoch), if any."""
        store = self.store()
        latest = {name: self._latest_execution(name, store) for name in component_ids}
        return {name: e for name, e in latest.items() if e is not None and e.create_time_since_epoch >= since_ms}

    def latest_state(self, component_id: str) -> Optional[str]:
        """COMPLETE, CACHED, FAILED, ... for a component's latest execution, or None if it never ran."""
        execution = self._latest_execution(component_id)
        return None if execution is None else metadata_store_pb2.Execution.State.Name(execution.last_known_state)

    def latest_outputs(self, component_id: str) -> Dict[str, List[metadata_store_pb2.Artifact]]:
        """Output artifacts of a component's latest completed or cached execution, by output key."""
        store = self.store()
        context = store.get_context_by_type_and_name("node", f"{self.pipeline_name}.{component_id}")
        if context is None:
            return {}
        executions = [e for e in store.get_executions_by_context(context.id) if e.last_known_state in DONE]
        if not executions:
            return {}
        latest = max(executions, key=lambda e: (e.create_time_since_epoch, e.id))
        return artifacts_by_key(store, latest.id, OUTPUTS)


def artifacts_by_key(
    store: metadata_store.MetadataStore, execution_id: int, kinds: Sequence[int]
) -> Dict[str, List[metadata_store_pb2.Artifact]]:
    """An execution's artifacts whose events are of ``kinds`` (INPUT, OUTPUT, ...), by input or output key."""
    events = [e for e in store.get_events_by_execution_ids([execution_id]) if e.type in kinds]
    artifacts = {a.id: a for a in store.get_artifacts_by_id([e.artifact_id for e in events])}
    keyed: Dict[str, List[metadata_store_pb2.Artifact]] = {}
    for event in events:
        key = event.path.steps[0].key if event.path.steps else ""
        keyed.setdefault(key, []).append(artifacts[event.artifact_id])
    return keyed


def compile_uncached(pipeline):
    """The pipeline's IR with ``UNCACHED_STEPS`` never served from the cache (TFX sets caching for the
    whole pipeline; these steps look at the data folder and the registry, which no input of theirs names)."""
    from tfx.dsl.compiler.compiler import Compiler

    ir = Compiler().compile(pipeline)
    for node in ir.nodes:
        if node.pipeline_node.node_info.id in UNCACHED_STEPS:
            node.pipeline_node.execution_options.caching_options.enable_cache = False
    return ir


def run_pipeline(
    config: PipelineConfig,
    until: str,
    beam_args: Optional[List[str]] = None,
    progress: Optional[Callable[[str], None]] = None,
) -> LocalRun:
    """Runs the pipeline up to a stage; raises the component's own error when one fails.

    ``beam_args`` are added to every Beam step's options (the command line's ``--beam-arg``).
    ``progress``, if given, receives a line as each component starts and ends (read from MLMD).
    """
    run = LocalRun(os.path.abspath(config.output), config.pipeline_name, config.pipeline_root)
    os.makedirs(run.output, exist_ok=True)
    pipeline = create_pipeline(
        config,
        pipeline_root=run.pipeline_root,
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(run.metadata_path),
        beam_args=config.steps_beam_args + list(beam_args or []),
        data_survey=image_folder.survey(config.data),  # listed once, here: DataFingerprint takes it
        until=until,
    )
    order = [component.id for component in pipeline.components]
    watcher = (
        ProgressWatcher(lambda since_ms: run.executions_since(order, since_ms), order, progress) if progress else None
    )
    if watcher:
        watcher.start()
    try:
        tfx.orchestration.LocalDagRunner().run_with_ir(compile_uncached(pipeline))
    finally:
        if watcher:
            watcher.stop()
    return run
