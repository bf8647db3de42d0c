"""Every benchmark runs in its tiny mode and ends with the JSON line bench/README.md documents.

The figures of a tiny run mean nothing and are not checked: this only keeps the benchmarks
from rotting between the sessions that need their figures.
"""

import json
import pathlib
import re
import subprocess
import sys

import pytest

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


@pytest.fixture(scope="module")
def tiny_dataset(
    tmp_path_factory,
):
    from conftest import write_image

    root = tmp_path_factory.mktemp("bench-data")
    seed = 0
    for split, count in (("train", 10), ("test", 4)):
        for label in ("cat", "dog"):
            for n in range(count):
                seed += 1
                write_image(root / split / f"{label}_{n}.jpg", seed)
    return root


def test_every_benchmark_is_documented_and_tested():
    scripts = {p.name for p in BENCH.glob("*.py") if "def main(" in p.read_text()}
    assert scripts == set(documented_keys())


@pytest.mark.parametrize("script", ["train_throughput.py", "input_pipeline.py", "imagenet_estimate.py", "scale.py"])
def test_a_benchmark_without_inputs_runs_tiny(script):
    check(script, run_tiny(script))


def test_the_ingest_benchmark_runs_tiny(tiny_dataset):
    check("ingest.py", run_tiny("ingest.py", "--data", str(tiny_dataset)))


def test_the_quality_and_serving_size_benchmarks_run_tiny(tiny_dataset):
    quality = run_tiny("quality.py", "--data", str(tiny_dataset))
    check("quality.py", quality)
    run_output = pathlib.Path(quality["smoke"]["report"]).parent / "run"
    check("serving_size.py", run_tiny("serving_size.py", str(run_output)))
