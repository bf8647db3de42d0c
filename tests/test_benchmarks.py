"""Every benchmark runs in its tiny mode and ends with the JSON line bench/README.md documents.

The benchmarks that run the pipeline are in test_benchmark_pipelines.py and test_benchmark_scale.py,
so that the test processes can share the work.

The figures of a tiny run mean nothing and are not checked: this only keeps the benchmarks
from rotting between the sessions that need their figures.
"""

import json
import pathlib
import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow(minutes=5)

ROOT = pathlib.Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"


def documented_keys() -> dict:
    """{script: (top-level keys, keys of each nested entry)} from bench/README.md's "Tiny modes" table."""
    section = (BENCH / "README.md").read_text().split("## Tiny modes", 1)[1]
    keys = {}
    for script, cell in re.findall(r"^\| `(\w+\.py)` \| (.+) \|$", section, flags=re.M):
        top, _, nested = cell.partition("per ")
        nested = nested.split(":", 1)[1] if nested else ""
        keys[script] = (re.findall(r"`(\w+)`", top), re.findall(r"`(\w+)`", nested))
    return keys


def run_tiny(script: str, *args: str) -> dict:
    result = subprocess.run(
        [sys.executable, str(BENCH / script), "--tiny", *args], cwd=ROOT, capture_output=True, text=True, timeout=1200
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def check(script: str, line: dict) -> None:
    top, nested = documented_keys()[script]
    assert set(top) <= set(line), (script, sorted(line))
    if nested:
        entries = [line[top[-1]]] if top else [line]  # nested under the last top-level key, or the line itself
        for mapping in entries:
            assert mapping, script
            for entry in mapping.values():
                assert set(nested) <= set(entry), (script, sorted(entry))


def test_every_benchmark_is_documented_and_tested():
    scripts = {p.name for p in BENCH.glob("*.py") if "def main(" in p.read_text()}
    assert scripts == set(documented_keys())


@pytest.mark.parametrize(
    "script", ["train_throughput.py", "input_pipeline.py", "imagenet_estimate.py", "statistics_memory.py"]
)
def test_a_benchmark_without_inputs_runs_tiny(script):
    check(script, run_tiny(script))
