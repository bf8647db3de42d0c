"""The Vertex AI path rehearsed offline: the compiled spec run task by task against the fake GCS bucket
and the fake Vertex AI API, as a schedule would submit it.

The pure pieces (task order, trigger conditions, the cache key, the Dataflow swap) are unit-tested;
the end-to-end tests run `simclr-tfx rehearse` on `pipeline/configs/vertex-smoke.yaml` (a Vertex AI
registry that deploys each champion) five times, with one bucket, one cache and one registry:
a run whose training worker is preempted and then whose training job fails; the same run submitted
again (ingestion cached, the training resumed, v1 pushed and deployed); again on the unchanged bucket
(nothing executes past DataFingerprint); with images added (v2 becomes the champion, v1 the previous
one, undeployed); and with an evaluation setting changed (evaluated, blessed and pushed again, the
Trainer cached).
"""

import contextlib
import io
import json

import pytest
import tensorflow as tf
import yaml

from pipeline import cli
from pipeline.offline_cloud import rehearsal

pytestmark = pytest.mark.slow(minutes=5)


def test_tasks_run_after_the_tasks_they_depend_on():
    tasks = {"c": {"dependentTasks": ["a", "b"]}, "b": {"dependentTasks": ["a"]}, "a": {}, "d": {}}
    assert rehearsal.topological_order(tasks) == ["a", "d", "b", "c"]
    with pytest.raises(ValueError, match="cycle"):
        rehearsal.topological_order({"a": {"dependentTasks": ["b"]}, "b": {"dependentTasks": ["a"]}})


def test_dataflow_options_are_swapped_for_the_direct_runner_and_nothing_else():
    args = [
        "--executor_class_path",
        "x.Executor",
        "--json_serialized_invocation_args",
        "{{$}}",
        "--runner=DataflowRunner",
        "--project=p",
        "--region=r",
        "--temp_location=gs://b/t",
        "--sdk_container_image=img",
        "--experiments=use_runner_v2",
        "--direct_num_workers=1",
    ]
    swapped = rehearsal.direct_runner_args(args)
    assert swapped[:4] == args[:4] and "--direct_num_workers=1" in swapped
    assert "--runner=DirectRunner" in swapped and not any("Dataflow" in a or "sdk_container" in a for a in swapped)
    local = ["--executor_class_path", "x", "--direct_num_workers=1"]
    assert rehearsal.direct_runner_args(local) == local


def test_trigger_conditions_read_the_input_artifacts_metadata():
    snapshot = {"artifacts": [{"metadata": {"bless": 1.0, "reason": "new data"}}]}
    condition = "(inputs.artifacts['_DataFingerprint.snapshot'].artifacts[0].metadata['bless'] == 1.0)"
    assert rehearsal.condition_holds(condition, {"_DataFingerprint.snapshot": snapshot}, {})
    snapshot["artifacts"][0]["metadata"]["bless"] = 0.0
    assert not rehearsal.condition_holds(condition, {"_DataFingerprint.snapshot": snapshot}, {})
    both = f"{condition} && !(inputs.parameter_values['flag'] == 'off')"
    snapshot["artifacts"][0]["metadata"]["bless"] = 1.0
    assert rehearsal.condition_holds(both, {"_DataFingerprint.snapshot": snapshot}, {"flag": "on"})
    assert not rehearsal.condition_holds(both, {"_DataFingerprint.snapshot": snapshot}, {"flag": "off"})
    with pytest.raises(ValueError, match="unsupported"):
        rehearsal.condition_holds("__import__('os')", {}, {})


def test_the_cache_key_follows_input_artifact_identity_parameters_and_container():
    task = {"inputs": {"parameters": {"n": {"runtimeValue": {"constantValue": {"intValue": "1"}}}}}}
    component = {"outputDefinitions": {"artifacts": {"out": {"artifactType": {"instanceSchema": "title: tfx.Model"}}}}}
    executor = {"image": "img:1", "command": ["python", "-m", "m"], "args": ["--x"]}
    inputs = {"examples": {"artifacts": [{"name": "artifacts/1", "uri": "gs://b/1"}]}}

    def invocation(task, artifacts, produced=None):
        upstream = {"Up": {"parameterValues": {"survey": produced}}} if produced else {}
        if produced:
            task = {**task, "inputs": {**task["inputs"], "parameters": {**task["inputs"]["parameters"], **survey}}}
        return rehearsal.executor_input(task, component, upstream, "gs://b/t", lambda uri: uri)["inputs"] | {
            "artifacts": artifacts
        }

    survey = {"survey": {"taskOutputParameter": {"producerTask": "Up", "outputParameterKey": "survey"}}}
    key = rehearsal.cache_key(component, executor, invocation(task, inputs))
    assert key == rehearsal.cache_key(component, executor, invocation(task, json.loads(json.dumps(inputs))))
    other_artifact = {"examples": {"artifacts": [{"name": "artifacts/2", "uri": "gs://b/1"}]}}
    assert key != rehearsal.cache_key(component, executor, invocation(task, other_artifact))
    assert key != rehearsal.cache_key(component, {**executor, "image": "img:2"}, invocation(task, inputs))
    other_parameter = {"inputs": {"parameters": {"n": {"runtimeValue": {"constantValue": {"intValue": "2"}}}}}}
    assert key != rehearsal.cache_key(component, executor, invocation(other_parameter, inputs))
    # A value an upstream task produced keys the task by the value itself, whichever run produced it.
    produced = rehearsal.cache_key(component, executor, invocation(task, inputs, produced="fingerprint-a"))
    assert produced == rehearsal.cache_key(component, executor, invocation(task, inputs, produced="fingerprint-a"))
    assert produced != rehearsal.cache_key(component, executor, invocation(task, inputs, produced="fingerprint-b"))


@pytest.fixture(scope="module")
def rehearsed(tmp_path_factory, fake_gcs):
    """`simclr-tfx rehearse` of vertex-smoke submitted five times, as a schedule would (module docstring)."""
    import shutil

    from conftest import write_image

    folder = tmp_path_factory.mktemp("rehearsal")
    data = folder / "images"
    for variant, (split, label, n) in enumerate(
        (s, c, n) for s, k in (("train", 4), ("test", 2)) for c in ("cat", "dog") for n in range(k)
    ):
        write_image(data / split / f"{label}_{n}.png", variant=100 + variant, size=(60 + 10 * n, 36))
    grown = folder / "grown"
    shutil.copytree(data, grown)
    for n, label in enumerate(("cat", "dog")):
        write_image(grown / "train" / f"{label}_new.png", variant=200 + n, size=(50, 40))
    config = folder / "vertex-smoke.yaml"
    # Any model is blessed here (the smoke model's top-1 on 4 images is chance): the loop is what is rehearsed.
    config.write_text(
        yaml.safe_dump(
            {"extends": "vertex-smoke", "output": str(folder / "out"), "blessing": {"champion_tolerance": 1.0}}
        )
    )
    evaluation_changed = folder / "evaluation-changed.yaml"
    evaluation_changed.write_text(yaml.safe_dump({"extends": str(config), "evaluation": {"label_draws": 3}}))
    patch = pytest.MonkeyPatch()
    for name, value in fake_gcs.env().items():
        patch.setenv(name, value)

    def rehearse(*extra, config=config):
        stdout = io.StringIO()
        with contextlib.redirect_stdout(stdout):
            code = cli.main(["rehearse", "--config", str(config), "--json", *extra])
        return code, json.loads(stdout.getvalue().strip().splitlines()[-1])

    try:
        runs = {
            "failed": rehearse(
                "--data", str(data), "--preempt-trainer-after", "epoch 2/", "--fail-trainer-after", "epoch 3/"
            ),
            "first": rehearse(),
            "again": rehearse(),
            "grown": rehearse("--data", str(grown)),
            "evaluation_changed": rehearse(config=evaluation_changed),
        }
    finally:
        patch.undo()
    yield {**runs, "workdir": folder / "out" / "rehearsal", "env": fake_gcs.env()}


def states(run) -> dict:
    return {name: task["state"] for name, task in run[1]["tasks"].items()}


INGESTION = ("ImageExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator", "AnomalyGate", "Transform")


def trainer_logs(rehearsed) -> list:
    """The Trainer task's log of each rehearsal, in the order they ran."""
    return [
        p.read_text() for p in sorted(rehearsed["workdir"].glob("logs/*/Trainer.log"), key=lambda p: p.stat().st_mtime)
    ]


def test_a_resubmitted_run_finds_ingestion_in_the_cache_resumes_training_and_pushes_the_first_champion(rehearsed):
    code, summary = rehearsed["first"]
    assert code == 0, summary.get("failed")
    assert states(rehearsed["first"]) == {
        "DataFingerprint": "SUCCEEDED",
        **{name: "CACHED" for name in INGESTION},
        **{name: "SUCCEEDED" for name in ("Trainer", "Embedder", "LinearEval", "Blesser", "RegistryPusher")},
    }
    assert summary["pushed"] == "1"
    assert summary["registry"] == {"aliases": {"champion": "1", "default": "1"}, "deployed": ["1"]}
    assert summary["pipeline_root"].startswith("gs://simclr-rehearsal/pipeline-root/")


def test_an_unchanged_bucket_executes_nothing_past_data_fingerprint_and_pushes_nothing(rehearsed):
    code, summary = rehearsed["again"]
    assert code == 0
    assert states(rehearsed["again"]) == {
        "DataFingerprint": "SUCCEEDED",
        **{name: "CACHED" for name in INGESTION + ("Trainer", "Embedder", "LinearEval")},
        "Blesser": "SKIPPED",
        "RegistryPusher": "SKIPPED",
    }
    assert summary["pushed"] is None and summary["registry"]["deployed"] == ["1"]


def test_added_images_retrain_and_the_new_champion_replaces_the_old_on_the_endpoint(rehearsed):
    code, summary = rehearsed["grown"]
    assert code == 0, summary.get("failed")
    assert set(states(rehearsed["grown"]).values()) == {"SUCCEEDED"}
    assert summary["pushed"] == "2"
    aliases = {"champion": "2", "default": "2", "previous-champion": "1"}
    assert summary["registry"] == {"aliases": aliases, "deployed": ["2"]}  # v1 undeployed once v2 took the traffic


def test_a_changed_evaluation_setting_evaluates_and_blesses_again_without_training(rehearsed):
    code, summary = rehearsed["evaluation_changed"]
    assert code == 0, summary.get("failed")
    assert states(rehearsed["evaluation_changed"]) == {
        "DataFingerprint": "SUCCEEDED",
        **{name: "CACHED" for name in INGESTION + ("Trainer", "Embedder")},
        **{name: "SUCCEEDED" for name in ("LinearEval", "Blesser", "RegistryPusher")},
    }
    assert summary["pushed"] == "3"  # blessed again (any model is, here) and pushed


def test_the_rehearsal_leaves_every_artifact_in_the_bucket(rehearsed, monkeypatch):
    for name, value in rehearsed["env"].items():
        monkeypatch.setenv(name, value)
    root = rehearsed["first"][1]["pipeline_root"]
    ingested = rehearsed["failed"][1]["pipeline_root"]  # the resubmitted run took these from the cache

    def found(pattern: str, under: str = root) -> list:
        return tf.io.gfile.glob(f"{under}/{pattern}")

    assert found("ImageExampleGen_*/examples/Split-train/*.gz", ingested)
    assert found("ImageExampleGen_*/examples/ingest_report.json", ingested)
    assert found("Transform_*/transform_graph/transform_fn/saved_model.pb", ingested)
    assert found("Trainer_*/model/Format-Serving/saved_model.pb")
    assert found("Trainer_*/model_run/final_checkpoint/ckpt.index")
    assert found("Embedder_*/embeddings/Split-train/embeddings-*.parquet")
    for plot in ("loss_curve.png", "confusion_matrix.png", "tsne.png"):
        assert found(f"LinearEval_*/evaluation/{plot}"), plot
    metrics = json.loads(tf.io.gfile.GFile(found("LinearEval_*/evaluation/metrics.json")[0]).read())
    assert metrics["train_images"] == 8 and metrics["test_images"] == 4
    assert found("LinearEval_*/evaluation/report.md") and found("Blesser_*/blessing/BLESSED")


def test_a_preempted_training_worker_restarts_and_resumes_from_its_gcs_checkpoint(rehearsed):
    text = trainer_logs(rehearsed)[0]
    assert "preempting the training worker" in text and "restarting it (restart_job_on_worker_restart)" in text
    resumed = [line for line in text.splitlines() if line.startswith("resumed from gs://")]
    # Checkpoints are written in the background, each save waiting for the one before: when the worker
    # is killed after epoch 2's line, step 1's checkpoint is complete and step 2's may be.
    assert len(resumed) == 1 and resumed[0].endswith(("at step 1", "at step 2")), resumed
    (recorded,) = sorted(rehearsed["workdir"].glob("vertex_jobs/*/custom_job_*.json"))[:1]
    request = json.loads(recorded.read_text())
    assert request["api_endpoint"] == "us-central1-aiplatform.googleapis.com"
    job = request["request"]["customJob"]
    assert job["jobSpec"]["scheduling"]["restartJobOnWorkerRestart"] is True
    command = job["jobSpec"]["workerPoolSpecs"][0]["containerSpec"]["command"]
    assert command[:3] == ["python", "-m", "tfx.scripts.run_executor"]


def test_a_run_submitted_again_after_a_failed_training_job_resumes_at_its_last_checkpoint(rehearsed, monkeypatch):
    code, summary = rehearsed["failed"]
    assert code == 1 and summary["tasks"]["Trainer"]["state"] == "FAILED" and summary["pushed"] is None
    assert {states(rehearsed["failed"])[name] for name in INGESTION} == {"SUCCEEDED"}
    failed_log, resubmitted_log = trainer_logs(rehearsed)[:2]
    assert "the training job fails" in failed_log
    # The second run has new artifact URIs, yet finds the checkpoint by the data's and settings' content.
    resumed = [line for line in resubmitted_log.splitlines() if line.startswith("resumed from gs://")]
    assert len(resumed) == 1, resumed
    assert resumed[0].startswith("resumed from gs://simclr-rehearsal/pipeline-root/trainer_checkpoints/")
    assert resumed[0].endswith(("/ckpt-2 at step 2", "/ckpt-3 at step 3"))  # failed after epoch 3's line
    assert "epoch 4/4 step 4/4" in resubmitted_log and "epoch 1/4" not in resubmitted_log
    assert summary["pipeline_root"] != rehearsed["first"][1]["pipeline_root"]
    # Pushed, so the resumable checkpoints are gone.
    for name, value in rehearsed["env"].items():
        monkeypatch.setenv(name, value)
    assert not tf.io.gfile.glob("gs://simclr-rehearsal/pipeline-root/trainer_checkpoints/*/checkpoint")


def test_the_trainer_task_is_recognised_as_the_one_that_starts_vertex_jobs():
    assert rehearsal.starts_vertex_jobs(["--executor_class_path", "components.training.vertex_trainer.VertexExecutor"])
    assert rehearsal.starts_vertex_jobs(
        ["--executor_class_path", "tfx.extensions.google_cloud_ai_platform.trainer.executor.GenericExecutor"]
    )
    assert not rehearsal.starts_vertex_jobs(["--executor_class_path", "components.training.resumable_trainer.Executor"])
    assert not rehearsal.starts_vertex_jobs(["--json_serialized_invocation_args", "{}"])
