"""The records stages hand each other: one typed model each (shared/records.py), used by writer and readers."""

import ast
import inspect
import pathlib

import pydantic
import pytest

from components.registry.local import LocalRegistry
from components.registry.protocol import Registry
from components.registry.vertex import VertexModelRegistry
from shared import contract, records

ROOT = pathlib.Path(__file__).resolve().parent.parent
# Each record file of the contract, and the one model it holds.
RECORD_FILES = {
    "SNAPSHOT_FILE": records.Snapshot,
    "INGEST_REPORT_FILE": records.IngestReport,
    "EVALUATION_METRICS_FILE": records.EvaluationMetrics,
    "BASELINE_METRICS_FILE": records.BaselineMetrics,
    "BLESSING_FILE": records.Blessing,
    "PUSH_FILE": records.PushRecord,
}


def test_a_record_reads_back_what_it_wrote_and_refuses_a_field_it_does_not_know(tmp_path):
    pushed = records.PushRecord(pushed=True, version="3", registry="local registry /r/m", reasons=["ok"])
    pushed.write(str(tmp_path / contract.PUSH_FILE))
    assert records.PushRecord.read(str(tmp_path / contract.PUSH_FILE)) == pushed
    with pytest.raises(pydantic.ValidationError, match="pushed_version"):
        records.PushRecord.model_validate({**pushed.model_dump(), "pushed_version": "3"})
    with pytest.raises(pydantic.ValidationError):
        pushed.model_copy().__setattr__("version", "4")  # frozen


def test_no_stage_reads_or_writes_a_record_file_as_a_plain_dict():
    """Every record file goes through its model: a JSON read or write naming one is a record bypassed."""
    names = set(RECORD_FILES)
    bypassed = []
    for package in ("pipeline", "components", "trainer"):
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Call) and getattr(node.func, "attr", "") in ("read_json", "write_json"):
                    used = {n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)} & names
                    bypassed += [f"{path.relative_to(ROOT)}:{node.lineno} {name}" for name in used]
    assert bypassed == []
    assert all(hasattr(contract, name) for name in names)


@pytest.mark.parametrize("registry_class", [LocalRegistry, VertexModelRegistry])
def test_both_registries_implement_the_whole_registry_protocol(registry_class):
    members = [name for name, _ in inspect.getmembers(Registry, inspect.isfunction) if not name.startswith("_")]
    assert {"list_versions", "show", "promote", "rollback", "push", "champion", "planned_requests"} <= set(members)
    for name in members:
        expected = list(inspect.signature(getattr(Registry, name)).parameters)
        assert list(inspect.signature(getattr(registry_class, name)).parameters) == expected, name


def test_the_cli_never_asks_which_kind_a_registry_is():
    commands = (ROOT / "pipeline" / "commands").rglob("*.py")
    assert not [p.name for p in commands if "LocalRegistry" in p.read_text() and p.name != "embed.py"]
    registry_command = (ROOT / "pipeline" / "commands" / "registry.py").read_text()
    assert "isinstance" not in registry_command and "kind ==" not in registry_command
