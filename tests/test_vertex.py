"""The cloud path, offline: the compiled Vertex AI Pipelines spec, and the exact API requests sent.

Nothing here reaches Google Cloud. The spec is compiled by the CLI with TFX's
KubeflowV2DagRunner; requests are built by the Vertex AI SDK's own classes.
"""

import contextlib
import io
import json
import os
import pathlib

import pytest
import yaml
from google.cloud import aiplatform_v1

from pipeline import cli
from pipeline.config import ConfigError, load_config

pytestmark = pytest.mark.slow(minutes=1)

PROJECT, REGION = "demo-project", "europe-west4"
IMAGE = f"{REGION}-docker.pkg.dev/{PROJECT}/simclr/simclr-tfx"  # a repository, as infra/ outputs it
TPU_IMAGE = f"{REGION}-docker.pkg.dev/{PROJECT}/simclr/simclr-tfx-tpu"
PINNED, TPU_PINNED = f"{IMAGE}@sha256:{'a' * 64}", f"{TPU_IMAGE}@sha256:{'b' * 64}"  # what `make image` recorded
SERVICE_ACCOUNT = f"simclr-pipeline@{PROJECT}.iam.gserviceaccount.com"
NETWORK = "projects/123456/global/networks/simclr-vpc"
BEAM_STEPS = ("ImageExampleGen", "StatisticsGen", "Transform", "Embedder")
TRAINER_MACHINES = {
    "tpu": {"machineType": "ct5lp-hightpu-4t", "tpuTopology": "2x2"},
    "tpu-v5e-8": {"machineType": "ct5lp-hightpu-8t", "tpuTopology": "2x4"},
    "gpu": {"machineType": "a2-highgpu-1g", "acceleratorType": "NVIDIA_TESLA_A100", "acceleratorCount": 1},
}


@pytest.fixture(autouse=True)
def image_record(tmp_path_factory, monkeypatch):
    """infra/images.json as `make image` leaves it, in the working directory that compile reads it from."""
    folder = tmp_path_factory.mktemp("checkout")
    (folder / "infra").mkdir()
    (folder / "infra" / "images.json").write_text(json.dumps({IMAGE: PINNED, TPU_IMAGE: TPU_PINNED}))
    monkeypatch.chdir(folder)
    return folder / "infra" / "images.json"


def vertex_settings(preset: str = "tpu", batch_size: int = 64) -> dict:
    return {
        "pipeline_name": "simclr-cloud",
        "data": "gs://demo-bucket/data/images",
        "validation": {"required_splits": ["train", "test"]},
        "training": {
            "encoder": {"depth": 18, "image_size": 64},
            "batch_size": batch_size,
            "epochs": 3,
            "optimizer": {"warmup_epochs": 1},
        },
        "registry": {"kind": "vertex", "project": PROJECT, "region": REGION, "model_root": "gs://demo-bucket/models"},
        "vertex": {
            "project": PROJECT,
            "region": REGION,
            "pipeline_root": "gs://demo-bucket/pipeline-root",
            "image": IMAGE,
            "service_account": SERVICE_ACCOUNT,
            "network": NETWORK,
            "tensorboard": f"projects/{PROJECT}/locations/{REGION}/tensorboards/42",
            "dataflow": {
                "temp_location": "gs://demo-bucket/dataflow-tmp",
                "machine_type": "n2-standard-8",
                "max_workers": 7,
                "subnetwork": f"regions/{REGION}/subnetworks/simclr-workers",
            },
            "trainer": {"preset": preset, **({"image": TPU_IMAGE} if preset.startswith("tpu") else {})},
            "schedule": {"cron": "TZ=Europe/Amsterdam 0 3 * * 1"},
            "labels": {"team": "vision"},
        },
    }


def write_yaml(path: pathlib.Path, settings: dict) -> str:
    path.write_text(yaml.safe_dump(settings))
    return str(path)


def run_cli(*argv: str):
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = cli.main(list(argv))
    return code, stdout.getvalue()


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """{preset: (config path, spec path, spec)} compiled once per module through `simclr-tfx compile`."""
    folder = tmp_path_factory.mktemp("vertex")
    (folder / "infra").mkdir()
    (folder / "infra" / "images.json").write_text(json.dumps({IMAGE: PINNED, TPU_IMAGE: TPU_PINNED}))
    here = os.getcwd()
    os.chdir(folder)
    result = {}
    for preset in TRAINER_MACHINES:
        config = write_yaml(folder / f"{preset}.yaml", vertex_settings(preset))
        spec = folder / f"{preset}.json"
        code, _ = run_cli("compile", "--config", config, "--output", str(spec))
        assert code == 0
        result[preset] = (config, str(spec), json.loads(spec.read_text()))
    os.chdir(here)
    return result


def tasks(spec: dict) -> dict:
    return spec["pipelineSpec"]["root"]["dag"]["tasks"]


def task_parameter(spec: dict, task: str, name: str):
    """A compile-time parameter of a step (pipeline spec 2.0: a typed constantValue)."""
    value = tasks(spec)[task]["inputs"]["parameters"][name]["runtimeValue"]["constantValue"]
    return int(value["intValue"]) if "intValue" in value else value["stringValue"]


@pytest.mark.parametrize("preset", sorted(TRAINER_MACHINES))
def test_every_step_runs_the_configured_image(compiled, preset):
    executors = compiled[preset][2]["pipelineSpec"]["deploymentSpec"]["executors"]
    assert len(executors) == len(tasks(compiled[preset][2])) == 12
    assert {executor["container"]["image"] for executor in executors.values()} == {PINNED}  # the recorded digest
    # Each step names its command, so the image's ENTRYPOINT (Beam's boot, for Dataflow workers) never runs on Vertex.
    assert all(executor["container"]["command"][:2] == ["python", "-m"] for executor in executors.values())


@pytest.mark.parametrize("preset", sorted(TRAINER_MACHINES))
def test_the_trainer_is_a_vertex_custom_job_on_the_preset_machine(compiled, preset):
    spec = compiled[preset][2]
    executor = spec["pipelineSpec"]["deploymentSpec"]["executors"]["Trainer_executor"]["container"]
    assert "components.training.vertex_trainer.VertexExecutor" in executor["args"]
    custom_config = json.loads(task_parameter(spec, "Trainer", "custom_config"))
    # Checkpoints live outside the run's folder, keyed at run time by the data's fingerprint (on the ingested
    # examples) and the settings that made the examples: those alone, so an evaluation change keeps its cache key.
    assert custom_config["checkpoint_root"] == "gs://demo-bucket/pipeline-root/trainer_checkpoints"
    assert set(custom_config["input_settings"]) == {"ingest", "validation", "eval_split", "transform"}
    producers = {
        a["taskOutputArtifact"]["producerTask"] for a in tasks(spec)["Trainer"]["inputs"]["artifacts"].values()
    }
    assert producers == {"ImageExampleGen", "Transform"}
    assert custom_config["ai_platform_enable_vertex"] is True
    assert custom_config["ai_platform_vertex_region"] == REGION
    job = custom_config["ai_platform_training_args"]
    assert job["project"] == PROJECT
    # The SDK's own message accepts the job spec: every field name and enum value is real.
    job_spec = aiplatform_v1.CustomJobSpec(job["job_spec"])
    pool = json.loads(
        aiplatform_v1.CustomJobSpec.to_json(
            job_spec, use_integers_for_enums=False, including_default_value_fields=False
        )
    )["workerPoolSpecs"]
    assert len(pool) == 1 and pool[0]["replicaCount"] == "1"  # int64 travels as a string
    assert pool[0]["machineSpec"] == TRAINER_MACHINES[preset]
    assert pool[0]["containerSpec"]["imageUri"] == (TPU_PINNED if preset.startswith("tpu") else PINNED)
    # PJRT on v5e, as Vertex AI's TPU training page says; never on the GPU (nor on v3: test_tpu_runtime).
    pjrt = {"NEXT_PLUGGABLE_DEVICE_USE_C_API": "true", "TF_PLUGGABLE_DEVICE_LIBRARY_PATH": "/lib/libtpu.so"}
    env = {e["name"]: e["value"] for e in pool[0]["containerSpec"].get("env", [])}
    assert env == (pjrt if preset.startswith("tpu") else {})
    assert job_spec.service_account == SERVICE_ACCOUNT and job_spec.network == NETWORK
    assert job_spec.tensorboard.endswith("/tensorboards/42")
    assert job_spec.base_output_directory.output_uri_prefix.startswith("gs://")
    assert job_spec.scheduling.restart_job_on_worker_restart  # a preempted worker restarts and resumes
    training = json.loads(custom_config["training"])
    assert training["batch_size"] == 64 and training["bf16"] == "auto"


@pytest.mark.parametrize("preset", sorted(TRAINER_MACHINES))
def test_beam_steps_run_on_dataflow(compiled, preset):
    executors = compiled[preset][2]["pipelineSpec"]["deploymentSpec"]["executors"]
    for step in BEAM_STEPS:
        args = executors[f"{step}_executor"]["container"]["args"]
        for expected in (
            "--runner=DataflowRunner",
            f"--project={PROJECT}",
            f"--region={REGION}",
            "--temp_location=gs://demo-bucket/dataflow-tmp",
            f"--service_account_email={SERVICE_ACCOUNT}",
            "--machine_type=n2-standard-8",
            "--max_num_workers=7",
            f"--sdk_container_image={PINNED}",  # the recorded digest: workers run the launcher's image
            "--experiments=use_runner_v2",
            "--network=simclr-vpc",
            f"--subnetwork=regions/{REGION}/subnetworks/simclr-workers",
        ):
            assert expected in args, (step, expected)
        assert not any(arg.startswith("--direct_") for arg in args), step


def test_pipeline_root_and_data_are_on_gcs(compiled):
    spec = compiled["tpu"][2]
    assert spec["runtimeConfig"]["gcsOutputDirectory"] == "gs://demo-bucket/pipeline-root"
    assert task_parameter(spec, "ImageExampleGen", "input_base") == "gs://demo-bucket/data/images"
    assert task_parameter(spec, "DataFingerprint", "data") == "gs://demo-bucket/data/images"


def test_only_data_fingerprint_escapes_the_cache_and_only_blessing_and_the_push_take_its_artifact(compiled):
    """Vertex keys a task by its input artifacts' names: DataFingerprint's artifact is new in every run, so
    only the two steps that must look at the champion again take it (the Cond's implicit input)."""
    spec = compiled["tpu"][2]
    takers = set()
    for name, task in tasks(spec).items():
        if name == "DataFingerprint":
            assert "cachingOptions" not in task and "triggerPolicy" not in task
            assert task_parameter(spec, name, "skip_unchanged") == 1
            continue
        assert task["cachingOptions"] == {"enableCache": True}, name
        sources = [source["taskOutputArtifact"] for source in task["inputs"].get("artifacts", {}).values()]
        if any(source["producerTask"] == "DataFingerprint" for source in sources):
            takers.add(name)
            assert "metadata['bless'] == 1" in task["triggerPolicy"]["condition"], name
        else:
            assert "triggerPolicy" not in task, name
    assert takers == {"Blesser", "RegistryPusher"}


def test_ingestion_takes_the_data_survey_as_a_value_that_names_its_producer_task(compiled):
    """The data's survey reaches ImageExampleGen as a parameter, so its cache key is the value itself."""
    spec = compiled["tpu"][2]
    survey = tasks(spec)["ImageExampleGen"]["inputs"]["parameters"]["survey"]
    assert survey == {"taskOutputParameter": {"producerTask": "DataFingerprint", "outputParameterKey": "survey"}}
    outputs = spec["pipelineSpec"]["components"]["DataFingerprint"]["outputDefinitions"]
    assert outputs["parameters"] == {"survey": {"parameterType": "STRING"}}
    for name, task in tasks(spec).items():  # TFX 1.16 writes "<id>_task", which names no task: mended
        for parameter in task["inputs"].get("parameters", {}).values():
            if "taskOutputParameter" in parameter:
                assert parameter["taskOutputParameter"]["producerTask"] in tasks(spec), name


def test_a_producer_task_that_names_no_task_is_mended_or_refused():
    from pipeline.vertex_runner import _name_parameter_producers

    task = {"inputs": {"parameters": {"x": {"taskOutputParameter": {"producerTask": "A_task"}}}}}
    _name_parameter_producers(task, {"A": {}, "B": {}})
    assert task["inputs"]["parameters"]["x"]["taskOutputParameter"]["producerTask"] == "A"
    with pytest.raises(ValueError, match="Z_task"):
        _name_parameter_producers(
            {"inputs": {"parameters": {"x": {"taskOutputParameter": {"producerTask": "Z_task"}}}}}, {"A": {}}
        )


def edges(pipeline) -> dict:
    return {node.id: sorted(upstream.id for upstream in node.upstream_nodes) for node in pipeline.components}


def test_every_trigger_condition_names_only_inputs_its_task_has(compiled):
    import re

    for name, task in tasks(compiled["tpu"][2]).items():
        condition = task.get("triggerPolicy", {}).get("condition", "")
        for input_name in re.findall(r"inputs\.artifacts\['([^']+)'\]", condition):
            assert input_name in task["inputs"]["artifacts"], (name, input_name)  # else Vertex cannot evaluate it


def test_custom_artifact_types_are_titled_by_their_import_path(compiled):
    """The Vertex entrypoint imports a custom artifact type by its schema title."""
    from tfx.utils import import_utils

    from components.ingest.data_fingerprint import DataSnapshot

    components = compiled["tpu"][2]["pipelineSpec"]["components"]
    schema = components["DataFingerprint"]["outputDefinitions"]["artifacts"]["snapshot"]["artifactType"]
    title = yaml.safe_load(schema["instanceSchema"])["title"]
    assert import_utils.import_class_by_path(title) is DataSnapshot


def test_local_and_vertex_configs_build_the_same_dag(tmp_path):
    from pipeline.pipeline import create_pipeline

    cloud = load_config(write_yaml(tmp_path / "cloud.yaml", vertex_settings()))
    local_settings = vertex_settings()
    for key in ("vertex", "registry"):
        local_settings.pop(key)
    local_settings["data"] = str(tmp_path)
    local = load_config(write_yaml(tmp_path / "local.yaml", local_settings))
    cloud_dag = edges(create_pipeline(cloud, pipeline_root="gs://demo-bucket/pipeline-root"))
    local_dag = edges(create_pipeline(local, pipeline_root=str(tmp_path / "root")))
    assert cloud_dag == local_dag
    assert len(cloud_dag) == 12 and cloud_dag["ImageExampleGen"] == ["DataFingerprint"]
    assert cloud_dag["Trainer"] == ["ImageExampleGen", "Transform"]
    assert cloud_dag["Embedder"] == ["ImageExampleGen", "Trainer"]
    assert cloud_dag["LinearEval"] == ["Embedder", "ImageExampleGen", "Trainer"]
    assert cloud_dag["Blesser"] == ["DataFingerprint", "LinearEval"]


def test_compiled_dag_has_the_pipeline_edges(compiled, tmp_path):
    from pipeline.pipeline import create_pipeline

    pipeline = create_pipeline(load_config(compiled["gpu"][0]), pipeline_root="gs://demo-bucket/pipeline-root")
    compiled_edges = {name: sorted(task.get("dependentTasks", [])) for name, task in tasks(compiled["gpu"][2]).items()}
    assert compiled_edges == edges(pipeline)


def test_submit_dry_run_prints_the_create_pipeline_job_request(compiled):
    config, spec_path, spec = compiled["tpu"]
    code, out = run_cli("submit", "--config", config, "--spec", spec_path, "--dry-run")
    assert code == 0
    printed = json.loads(out)
    assert printed["request"] == "CreatePipelineJobRequest"
    body = printed["body"]
    assert body["parent"] == f"projects/{PROJECT}/locations/{REGION}"
    assert body["pipelineJobId"].startswith("simclr-cloud-")
    job = body["pipelineJob"]
    assert job["displayName"] == "simclr-cloud"
    assert job["serviceAccount"] == SERVICE_ACCOUNT and job["network"] == NETWORK
    assert job["labels"] == {"pipeline": "simclr-cloud", "team": "vision"}
    assert job["runtimeConfig"]["gcsOutputDirectory"] == "gs://demo-bucket/pipeline-root"
    assert job["pipelineSpec"]["root"] == spec["pipelineSpec"]["root"]  # per-step caching as compiled
    # The body parses back into the API's message, unchanged.
    request = aiplatform_v1.CreatePipelineJobRequest.from_json(json.dumps(body))
    assert request.pipeline_job.service_account == SERVICE_ACCOUNT


def test_submit_no_cache_turns_caching_off_everywhere(compiled):
    config, spec_path, _ = compiled["tpu"]
    code, out = run_cli("submit", "--config", config, "--spec", spec_path, "--dry-run", "--no-cache")
    assert code == 0
    job_tasks = json.loads(out)["body"]["pipelineJob"]["pipelineSpec"]["root"]["dag"]["tasks"]
    assert {json.dumps(task["cachingOptions"]) for task in job_tasks.values()} == {'{"enableCache": false}'}


def test_schedule_create_dry_run_prints_the_create_schedule_request(compiled):
    config, spec_path, spec = compiled["gpu"]
    code, out = run_cli(
        "schedule", "create", "--config", config, "--spec", spec_path, "--cron", "0 3 * * 1", "--dry-run"
    )
    assert code == 0
    printed = json.loads(out)
    assert printed["request"] == "CreateScheduleRequest"
    body = printed["body"]
    assert body["parent"] == f"projects/{PROJECT}/locations/{REGION}"
    schedule = body["schedule"]
    assert schedule["displayName"] == "simclr-cloud-retrain"
    assert schedule["cron"] == "0 3 * * 1"
    assert schedule["maxConcurrentRunCount"] == "1"
    job_request = schedule["createPipelineJobRequest"]
    assert job_request["parent"] == body["parent"]
    job = job_request["pipelineJob"]
    assert job["serviceAccount"] == SERVICE_ACCOUNT and job["network"] == NETWORK
    assert job["runtimeConfig"]["gcsOutputDirectory"] == "gs://demo-bucket/pipeline-root"
    assert job["pipelineSpec"]["root"] == spec["pipelineSpec"]["root"]
    # Every run of the schedule starts exactly the image `make image` pushed, whatever a tag names later.
    executors = job["pipelineSpec"]["deploymentSpec"]["executors"].values()
    assert {executor["container"]["image"] for executor in executors} == {PINNED}


def test_schedule_default_cron_comes_from_the_config(compiled):
    config, spec_path, _ = compiled["gpu"]
    code, out = run_cli("schedule", "create", "--config", config, "--spec", spec_path, "--dry-run")
    assert code == 0 and json.loads(out)["body"]["schedule"]["cron"] == "TZ=Europe/Amsterdam 0 3 * * 1"


@pytest.mark.parametrize(
    "action, request_name",
    [
        ("pause", "PauseScheduleRequest"),
        ("resume", "ResumeScheduleRequest"),
        ("delete", "DeleteScheduleRequest"),
    ],
)
def test_schedule_actions_dry_run(compiled, action, request_name):
    code, out = run_cli("schedule", action, "--config", compiled["tpu"][0], "777", "--dry-run")
    assert code == 0
    printed = json.loads(out)
    assert printed["request"] == request_name
    assert printed["body"]["name"] == f"projects/{PROJECT}/locations/{REGION}/schedules/777"
    if action == "resume":
        assert printed["body"]["catchUp"] is False  # runs missed while paused are not started in a burst


def test_schedule_list_dry_run_filters_on_this_pipelines_schedule(compiled):
    code, out = run_cli("schedule", "list", "--config", compiled["tpu"][0], "--dry-run")
    body = json.loads(out)["body"]
    assert code == 0 and body["parent"] == f"projects/{PROJECT}/locations/{REGION}"
    assert body["filter"] == 'display_name="simclr-cloud-retrain"'


@pytest.mark.parametrize("preset, batch, replicas", [("tpu", 1022, 4), ("tpu-v3", 1020, 8)])
def test_a_batch_that_cannot_be_split_across_the_replicas_is_refused(tmp_path, capsys, preset, batch, replicas):
    config = write_yaml(tmp_path / "bad.yaml", vertex_settings(preset, batch_size=batch))
    code, _ = run_cli("compile", "--config", config, "--output", str(tmp_path / "spec.json"))
    error = capsys.readouterr().err.strip()
    assert code == 2 and len(error.splitlines()) == 1
    assert f"training.batch_size {batch}" in error and f"multiple of {replicas}" in error
    assert not (tmp_path / "spec.json").exists()


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda s: s["vertex"].update(pipeline_root="/tmp/root"), "pipeline_root must be a gs:// path"),
        (lambda s: s.update(data="/home/me/images"), "data must be a gs:// path"),
        (lambda s: s["vertex"]["dataflow"].update(temp_location="tmp"), "temp_location must be a gs:// path"),
        (lambda s: s["vertex"].update(service_account="me@example.com"), "service account e-mail"),
        (lambda s: s["vertex"]["trainer"].update(preset="quantum"), "vertex.trainer.preset"),
        # The TFX-based pipeline image has no libtpu: a TPU job on it would find no TPU.
        (lambda s: s["vertex"]["trainer"].pop("image"), "'tpu' trainer preset needs the TPU image"),
        (lambda s: s["vertex"]["trainer"].update(image=IMAGE), "'tpu' trainer preset needs the TPU image"),
        # Settings that compile but would fail on Vertex AI.
        (lambda s: s.update(pipeline_name="SimCLR_cloud"), "setting 'pipeline_name'"),
        (lambda s: s.update(pipeline_name="9lives"), "setting 'pipeline_name'"),
        (lambda s: s.update(registry={"kind": "local"}), "setting 'registry.kind'"),
        (lambda s: s["registry"].pop("model_root"), "needs 'model_root'"),
        (
            lambda s: s["registry"].update(model_root="gs://demo-bucket/pipeline-root/models"),
            "setting 'registry.model_root'",
        ),
        # 1024 on the 4 chips of a v5e host: 256 images of two 224 px views per chip (vertex.yaml's old batch).
        (
            lambda s: s["training"].update(encoder={"depth": 50, "image_size": 224}, batch_size=1024),
            "setting 'training.batch_size': 1024 is 256 images per replica",
        ),
        (
            lambda s: s["training"].update(encoder={"depth": 50, "image_size": 224}, batch_size=512, bf16="off"),
            "more than the 64 that one v5e replica holds",
        ),
    ],
)
def test_bad_vertex_settings_and_settings_that_would_fail_on_vertex_are_one_line_errors(tmp_path, change, message):
    settings = vertex_settings()
    change(settings)
    with pytest.raises(ConfigError) as error:
        load_config(write_yaml(tmp_path / "bad.yaml", settings))
    assert message in str(error.value) and "\n" not in str(error.value)


FILLED = {"<project>": PROJECT, "<region>": REGION, "<bucket>": "demo-bucket", "<id>": "42"}


def fill(text: str) -> str:
    for placeholder, value in FILLED.items():
        text = text.replace(placeholder, value)
    return text


@pytest.mark.parametrize("name, preset", [("vertex", "tpu"), ("imagenet", "tpu-v5e-8")])
def test_the_shipped_templates_name_their_placeholders_and_compile_once_filled(tmp_path, name, preset):
    configs = pathlib.Path(cli.__file__).parent / "configs"
    with pytest.raises(ConfigError, match="replace the placeholder in 'data'"):
        load_config(name)
    for template in ("vertex", name):  # imagenet.yaml extends vertex.yaml beside it
        (tmp_path / f"{template}.yaml").write_text(fill((configs / f"{template}.yaml").read_text()))
    config = load_config(str(tmp_path / f"{name}.yaml"))
    assert config.vertex.trainer.preset == preset and config.training.batch_size % config.vertex.trainer.replicas == 0
    spec_path = tmp_path / "spec.json"
    assert run_cli("compile", "--config", str(tmp_path / f"{name}.yaml"), "--output", str(spec_path))[0] == 0
    job = json.loads(task_parameter(json.loads(spec_path.read_text()), "Trainer", "custom_config"))
    pool = job["ai_platform_training_args"]["job_spec"]["worker_pool_specs"][0]
    assert (
        pool["machine_spec"]
        == {
            "tpu": {"machine_type": "ct5lp-hightpu-4t", "tpu_topology": "2x2"},
            "tpu-v5e-8": {"machine_type": "ct5lp-hightpu-8t", "tpu_topology": "2x4"},
        }[preset]
    )
    assert pool["container_spec"]["image_uri"] == TPU_PINNED


def test_a_placeholder_anywhere_is_refused_in_one_line(tmp_path):
    configs = pathlib.Path(cli.__file__).parent / "configs"
    (tmp_path / "vertex.yaml").write_text(fill((configs / "vertex.yaml").read_text()))
    imagenet = fill((configs / "imagenet.yaml").read_text()).replace(
        "labels_file: gs://demo-bucket/", "labels_file: gs://<project>-simclr/"
    )
    (tmp_path / "imagenet.yaml").write_text(imagenet)
    with pytest.raises(ConfigError) as error:
        load_config(str(tmp_path / "imagenet.yaml"))
    assert "replace the placeholder in 'ingest.labels_file'" in str(error.value) and "\n" not in str(error.value)
    settings = vertex_settings()
    settings["ingest"] = {"beam_args": ["--flag=<value>"]}
    with pytest.raises(ConfigError, match=r"placeholder in 'ingest.beam_args\[0\]'"):
        load_config(write_yaml(tmp_path / "listed.yaml", settings))


def test_compile_refuses_an_image_tag_without_a_recorded_digest_and_pins_a_recorded_one(tmp_path, image_record):
    settings = vertex_settings("gpu")
    settings["vertex"]["image"] = f"{IMAGE}:latest"  # a tag resolves through the record too
    config = write_yaml(tmp_path / "tagged.yaml", settings)
    code, out = run_cli("compile", "--config", config, "--output", str(tmp_path / "spec.json"))
    assert code == 0 and PINNED in out
    executors = json.loads((tmp_path / "spec.json").read_text())["pipelineSpec"]["deploymentSpec"]["executors"]
    assert {e["container"]["image"] for e in executors.values()} == {PINNED}
    assert f"--sdk_container_image={PINNED}" in executors["StatisticsGen_executor"]["container"]["args"]
    image_record.unlink()
    code, _ = run_cli("compile", "--config", config, "--output", str(tmp_path / "again.json"))
    assert code == 2 and not (tmp_path / "again.json").exists()


def test_make_image_records_each_pushed_digest_for_compile(tmp_path):
    from pipeline import images

    record = tmp_path / "images.json"
    digests = [f"other.example/x@sha256:{'c' * 64}", PINNED]
    assert images.record_push(str(record), IMAGE, digests) == PINNED
    assert images.record_push(str(record), TPU_IMAGE, [TPU_PINNED]) == TPU_PINNED
    assert json.loads(record.read_text()) == {IMAGE: PINNED, TPU_IMAGE: TPU_PINNED}
    with pytest.raises(ConfigError, match="was it pushed"):
        images.record_push(str(record), IMAGE, [f"{IMAGE}:latest"])
    assert images.repository("localhost:5000/a/b:tag@sha256:" + "d" * 64) == "localhost:5000/a/b"


def test_every_shipped_config_loads_within_its_tpu_memory(tmp_path):
    from trainer import tpu_memory

    configs = pathlib.Path(cli.__file__).parent / "configs"
    for path in configs.glob("*.yaml"):
        (tmp_path / path.name).write_text(fill(path.read_text()))
    for path in sorted(tmp_path.glob("*.yaml")):
        config = load_config(str(path))  # refuses a batch over the preset's replicas' memory
        if config.vertex and config.vertex.trainer.tpu_generation:
            per_replica = config.training.batch_size // config.vertex.trainer.replicas
            generation = config.vertex.trainer.tpu_generation
            assert per_replica <= tpu_memory.max_images_per_replica(config.training, generation), path.name
    # The anchor (trainer/tpu_memory.py): ResNet-50, 224 px, two views, bfloat16: 128 images per replica.
    anchor = load_config(str(tmp_path / "imagenet.yaml")).training
    assert tpu_memory.max_images_per_replica(anchor) == 128


def test_compile_needs_a_vertex_section(tmp_path, capsys):
    settings = vertex_settings()
    settings.pop("vertex")
    settings.pop("registry")
    code, _ = run_cli("compile", "--config", write_yaml(tmp_path / "local.yaml", settings))
    assert code == 2 and "has no 'vertex' section" in capsys.readouterr().err


def test_the_supervised_baseline_compiles_into_the_vertex_dag(tmp_path):
    config = write_yaml(tmp_path / "benchmark.yaml", {**vertex_settings("gpu"), "supervised_baseline": {"steps": 5}})
    spec_path = tmp_path / "spec.json"
    assert run_cli("compile", "--config", config, "--output", str(spec_path))[0] == 0
    compiled_tasks = tasks(json.loads(spec_path.read_text()))
    assert len(compiled_tasks) == 13
    baseline_needs = sorted(compiled_tasks["SupervisedBaseline"]["dependentTasks"])
    assert baseline_needs == ["ImageExampleGen", "Transform"]
    baseline_input = compiled_tasks["LinearEval"]["inputs"]["artifacts"]["baseline"]["taskOutputArtifact"]
    assert baseline_input == {"producerTask": "SupervisedBaseline", "outputArtifactKey": "baseline"}


def test_the_classifier_compiles_into_the_vertex_dag_and_is_pushed_after_the_encoder_under_the_same_gate(tmp_path):
    config = write_yaml(
        tmp_path / "classifier.yaml", {**vertex_settings("gpu"), "finetune": {"min_steps": 5, "max_steps": 5}}
    )
    spec_path = tmp_path / "spec.json"
    assert run_cli("compile", "--config", config, "--output", str(spec_path))[0] == 0
    compiled_tasks = tasks(json.loads(spec_path.read_text()))
    assert sorted(compiled_tasks["FineTuner"]["dependentTasks"]) == ["ImageExampleGen", "Trainer", "Transform"]
    pusher = compiled_tasks["ClassifierPusher"]
    assert pusher["inputs"]["artifacts"]["encoder_push"]["taskOutputArtifact"] == {
        "producerTask": "RegistryPusher",
        "outputArtifactKey": "pushed_model",
    }
    for task in ("Blesser", "RegistryPusher", "ClassifierBlesser", "ClassifierPusher"):
        assert (
            compiled_tasks[task]["triggerPolicy"]["condition"]
            == compiled_tasks["Blesser"]["triggerPolicy"]["condition"]
        )
        assert "DataFingerprint" in compiled_tasks[task]["dependentTasks"]


@pytest.mark.parametrize("argv", [["submit"], ["schedule", "create"], ["schedule", "list"]])
def test_submitting_or_scheduling_without_credentials_says_how_to_log_in(compiled, tmp_path, monkeypatch, capsys, argv):
    from pipeline.cloud_errors import CREDENTIALS

    for name in ("GOOGLE_APPLICATION_CREDENTIALS", "SIMCLR_VERTEX_EMULATOR_HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))  # no ADC file there
    monkeypatch.setenv("NO_GCE_CHECK", "True")  # and no metadata server to ask
    config, spec, _ = compiled["gpu"]
    extra = ["--spec", spec] if argv[-1] != "list" else []
    code, _ = run_cli(*argv, "--config", config, *extra)
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == cli.EXIT_CLOUD_ERROR and err == [f"simclr-tfx: error: {CREDENTIALS}"], err
