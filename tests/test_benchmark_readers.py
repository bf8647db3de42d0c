"""The benchmarks that read a pipeline run's artifacts, in their tiny modes, on the session's smoke run."""

import pathlib
import shutil

import pytest
from test_benchmarks import check, run_tiny

pytestmark = pytest.mark.slow(minutes=3)


@pytest.fixture(scope="module")
def smoke_output(smoke_pipeline) -> pathlib.Path:
    return pathlib.Path(smoke_pipeline.run.output)


def test_the_serving_size_benchmark_runs_tiny(smoke_output):
    check("serving_size.py", run_tiny("serving_size.py", str(smoke_output)))


def test_the_head_features_benchmark_runs_tiny(smoke_output):
    config = str(smoke_output / "config.yaml")
    check("head_features.py", run_tiny("head_features.py", str(smoke_output), "--config", config))


def test_the_finetune_levers_benchmark_runs_tiny(smoke_output):
    config = str(smoke_output / "config.yaml")
    check("finetune_levers.py", run_tiny("finetune_levers.py", str(smoke_output), "--config", config))


def test_the_levers_benchmark_runs_tiny_on_a_copy_of_a_run_whose_ingestion_it_reuses(smoke_pipeline, tmp_path):
    """Each variant is a new `simclr-tfx run` in the shared folder: ingestion cached, a new Trainer."""
    from pipeline.local_runner import LocalRun

    shutil.copytree(smoke_pipeline.run.output, tmp_path / "run")
    config = str(tmp_path / "run" / "config.yaml")
    arguments = ("--base", config, "--pipeline-name", "smoke-test", "--data", str(smoke_pipeline.data))
    check("levers.py", run_tiny("levers.py", *arguments, "--workdir", str(tmp_path)))
    run = LocalRun(str(tmp_path / "run"), "smoke-test")
    assert run.latest_state("ImageExampleGen") == run.latest_state("Transform") == "CACHED"
    assert run.latest_state("Trainer") == "COMPLETE"
