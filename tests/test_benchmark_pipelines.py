"""The benchmarks that ingest or run the pipeline on a small generated dataset, in their tiny modes."""

import pathlib

import pytest
from test_benchmarks import check, run_tiny

pytestmark = pytest.mark.slow(minutes=4)


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    from conftest import write_image

    root = tmp_path_factory.mktemp("bench-data")
    variant = 0
    for split, count in (("train", 10), ("test", 4)):
        for label in ("cat", "dog"):
            for n in range(count):
                variant += 1
                write_image(root / split / f"{label}_{n}.jpg", variant)
    return root


def test_the_ingest_benchmark_runs_tiny(tiny_dataset):
    check("ingest.py", run_tiny("ingest.py", "--data", str(tiny_dataset)))


def test_the_quality_benchmark_and_those_that_read_its_run_run_tiny(tiny_dataset, tmp_path):
    quality = run_tiny("quality.py", "--data", str(tiny_dataset))
    check("quality.py", quality)
    run_output = pathlib.Path(quality["smoke"]["report"]).parent / "run"
    check("serving_size.py", run_tiny("serving_size.py", str(run_output)))
    check("head_features.py", run_tiny("head_features.py", str(run_output)))
    check("finetune_levers.py", run_tiny("finetune_levers.py", str(run_output)))
    check("levers.py", run_tiny("levers.py", "--data", str(tiny_dataset), "--workdir", str(tmp_path / "levers")))
