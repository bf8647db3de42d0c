"""bench/scale.py in its tiny mode: ingestion and validation on two generated 4-class folders."""

import pytest
from test_benchmarks import check, run_tiny

pytestmark = pytest.mark.slow(minutes=2.5)


def test_the_scale_benchmark_runs_tiny():
    check("scale.py", run_tiny("scale.py"))
