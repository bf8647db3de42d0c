"""The benchmarks that ingest or run the whole pipeline on a small generated dataset, in their tiny modes."""

import pytest
from test_benchmarks import check, run_tiny

pytestmark = pytest.mark.slow(minutes=3.5)


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


def test_the_quality_benchmark_runs_tiny(tiny_dataset):
    check("quality.py", run_tiny("quality.py", "--data", str(tiny_dataset)))
