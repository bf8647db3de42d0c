"""bench/run_artifacts.py reads a Trainer execution's own inputs from a real SQLite MLMD store, not newest folders."""

import pathlib
import sys

import pytest
from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2 as mlmd

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "bench"))

from run_artifacts import trainer_artifacts  # noqa: E402


class Store:
    """A run's metadata.sqlite written the way LocalDagRunner records executions: node contexts, keyed events."""

    def __init__(self, folder: pathlib.Path):
        config = mlmd.ConnectionConfig()
        config.sqlite.filename_uri = str(folder / "metadata.sqlite")
        self.store = metadata_store.MetadataStore(config)
        self.artifact_type = self.store.put_artifact_type(mlmd.ArtifactType(name="Artifact"))
        self.execution_type = self.store.put_execution_type(mlmd.ExecutionType(name="Component"))
        self.context_type = self.store.put_context_type(mlmd.ContextType(name="node"))
        self.contexts: dict = {}

    def artifact(self, uri: str) -> int:
        return self.store.put_artifacts([mlmd.Artifact(type_id=self.artifact_type, uri=uri)])[0]

    def execution(self, node: str, inputs: dict, outputs: dict, state=mlmd.Execution.COMPLETE) -> int:
        if node not in self.contexts:
            context = mlmd.Context(type_id=self.context_type, name=node)
            context.id = self.store.put_contexts([context])[0]
            self.contexts[node] = context
        pairs = []
        for kind, artifacts in ((mlmd.Event.INPUT, inputs), (mlmd.Event.OUTPUT, outputs)):
            for key, artifact_id in artifacts.items():
                event = mlmd.Event(type=kind)
                event.path.steps.add().key = key
                event.path.steps.add().index = 0
                pairs.append((self.store.get_artifacts_by_id([artifact_id])[0], event))
        execution = mlmd.Execution(type_id=self.execution_type, last_known_state=state)
        return self.store.put_execution(execution, pairs, [self.contexts[node]])[0]


@pytest.fixture
def two_variants(tmp_path):
    """One ingestion, two Transforms (128 and 224 px stored) and three Trainers, the last on the older Transform."""
    store = Store(tmp_path)
    examples = store.artifact("root/ImageExampleGen/examples/1")
    store.execution("p.ImageExampleGen", {}, {"examples": examples})
    graphs = [store.artifact(f"root/Transform/transform_graph/{i}") for i in (2, 4)]
    for graph in graphs:
        store.execution("p.Transform", {"examples": examples}, {"transform_graph": graph})
    trainers = []
    for graph, run in ((graphs[0], 3), (graphs[1], 5), (graphs[0], 6)):
        outputs = {"model": store.artifact(f"root/Trainer/model/{run}")}
        outputs["model_run"] = store.artifact(f"root/Trainer/model_run/{run}")
        trainers.append(store.execution("p.Trainer", {"examples": examples, "transform_graph": graph}, outputs))
    store.execution("p.Trainer", {"transform_graph": graphs[1]}, {}, state=mlmd.Execution.FAILED)
    return tmp_path, trainers


def test_the_newest_trainer_is_read_with_the_transform_graph_it_trained_from(two_variants):
    folder, _ = two_variants
    run = trainer_artifacts(folder)
    assert run.model == "root/Trainer/model/6"
    assert run.transform_graph == "root/Transform/transform_graph/2"  # not the newest folder, 4
    assert run.examples == "root/ImageExampleGen/examples/1"  # what that Transform read


def test_a_chosen_trainer_execution_is_read_with_its_own_inputs(two_variants):
    folder, trainers = two_variants
    run = trainer_artifacts(folder, trainers[1])
    assert (run.model_run, run.transform_graph) == ("root/Trainer/model_run/5", "root/Transform/transform_graph/4")


def test_an_unknown_execution_or_folder_is_a_one_line_error(two_variants, tmp_path_factory):
    folder, trainers = two_variants
    with pytest.raises(SystemExit, match=f"no Trainer execution 999 .*{trainers[0]}, {trainers[1]}, {trainers[2]}"):
        trainer_artifacts(folder, 999)
    with pytest.raises(SystemExit, match="no metadata.sqlite"):
        trainer_artifacts(tmp_path_factory.mktemp("empty"))
