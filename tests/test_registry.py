"""The local model registry: immutable versions, atomic and concurrent pushes, the champion pointer."""

import contextlib
import io
import json
import multiprocessing
import os
import pathlib

import pytest
from conftest import GCS_BUCKET, version_metadata

from components.registry.config import RegistryConfig
from components.registry.local import LocalRegistry
from components.registry.protocol import RegistryError
from pipeline import cli


def make_saved_model_dir(path, payload: bytes = b"weights"):
    (path / "variables").mkdir(parents=True)
    (path / "saved_model.pb").write_bytes(b"graph")
    (path / "variables" / "variables.data-00000-of-00001").write_bytes(payload)
    return str(path)


def test_push_writes_an_immutable_version_with_metadata(tmp_path):
    registry = LocalRegistry(str(tmp_path / "registry"), "encoder")
    source = make_saved_model_dir(tmp_path / "model")
    version = registry.push(source, version_metadata(metrics={"knn_top1": 0.5}), make_champion=True)

    assert version == "1"
    metadata = registry.metadata("1")
    assert metadata["version"] == "1" and metadata["model"] == "encoder" and metadata["metrics"] == {"knn_top1": 0.5}
    assert "pushed_at" in metadata
    pushed = os.path.join(registry.saved_model_path("1"), "saved_model.pb")
    assert open(pushed, "rb").read() == b"graph"
    assert not os.stat(pushed).st_mode & 0o222
    assert registry.champion().version == "1"
    assert [name for name in os.listdir(registry.model_dir) if name.startswith(".staging")] == []


def test_unblessed_push_does_not_move_the_champion(tmp_path):
    registry = LocalRegistry(str(tmp_path), "encoder")
    source = make_saved_model_dir(tmp_path / "model")
    registry.push(source, version_metadata(), make_champion=True)
    registry.push(source, version_metadata(), make_champion=False)
    assert registry.versions() == ["1", "2"]
    assert registry.pointer()["version"] == "1"


def test_promote_and_rollback_move_the_pointer_and_keep_history(tmp_path):
    registry = LocalRegistry(str(tmp_path), "encoder")
    source = make_saved_model_dir(tmp_path / "model")
    for _ in range(3):
        registry.push(source, version_metadata(), make_champion=True)
    assert registry.pointer()["version"] == "3"
    assert registry.rollback() == "2"
    assert registry.pointer()["version"] == "2"
    registry.promote("3")
    assert [entry["version"] for entry in registry.pointer()["history"]] == ["1", "2", "3"]
    with pytest.raises(RegistryError, match="no version 9"):
        registry.promote("9")


def test_rollback_without_an_earlier_champion_is_refused(tmp_path):
    registry = LocalRegistry(str(tmp_path), "encoder")
    registry.push(make_saved_model_dir(tmp_path / "model"), version_metadata(), make_champion=True)
    with pytest.raises(RegistryError, match="no earlier champion"):
        registry.rollback()


def test_a_failed_copy_leaves_no_version_behind(tmp_path):
    registry = LocalRegistry(str(tmp_path / "registry"), "encoder")
    with pytest.raises(OSError):
        registry.push(str(tmp_path / "does-not-exist"), version_metadata(), make_champion=True)
    assert registry.versions() == []
    assert os.listdir(registry.model_dir) == []


def _push_after_barrier(root, source, barrier, index, results):
    barrier.wait()
    version = LocalRegistry(root, "encoder").push(source, version_metadata(writer=index), make_champion=True)
    results.put((index, version))


def test_concurrent_pushes_get_distinct_complete_versions(tmp_path):
    root = str(tmp_path / "registry")
    writers = 4
    sources = [
        make_saved_model_dir(tmp_path / f"model-{i}", payload=f"weights-{i}".encode() * 50_000) for i in range(writers)
    ]
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(writers), context.Queue()
    processes = [
        context.Process(target=_push_after_barrier, args=(root, sources[i], barrier, i, results))
        for i in range(writers)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
        assert process.exitcode == 0
    pushed = dict(results.get(timeout=5) for _ in range(writers))

    registry = LocalRegistry(root, "encoder")
    assert sorted(pushed.values(), key=int) == registry.versions() == ["1", "2", "3", "4"]
    for writer, version in pushed.items():
        assert registry.metadata(version)["writer"] == writer
        data = os.path.join(registry.saved_model_path(version), "variables", "variables.data-00000-of-00001")
        assert open(data, "rb").read() == f"weights-{writer}".encode() * 50_000
    assert registry.pointer()["version"] in pushed.values()
    assert len(registry.pointer()["history"]) == writers
    json.loads(open(os.path.join(registry.model_dir, "champion.json")).read())


def test_vertex_push_is_a_new_version_of_the_parent_model_with_aliases():
    from google.cloud import aiplatform_v1

    from components.registry.vertex import VertexModelRegistry

    registry = VertexModelRegistry("my-project", "europe-west4", "simclr-encoder", "serving:latest")
    metadata = version_metadata(
        top1=0.7351,
        metrics={"knn_top1": 0.7},
        data_fingerprint="abc",
        stage_keys={"data": "a" * 64, "training": "f" * 64},
        pipeline_name="simclr-Vertex",
        git_revision="0123456789abcdef",
        pipeline_run_id="run-42",
    )
    request = registry.upload_request("gs://bucket/root/Trainer/model/7/Format-Serving", metadata, ["champion"])

    assert isinstance(request, aiplatform_v1.UploadModelRequest)
    assert request.parent == "projects/my-project/locations/europe-west4"
    assert request.parent_model == "projects/my-project/locations/europe-west4/models/simclr-encoder"
    model = request.model
    assert model.artifact_uri == "gs://bucket/root/Trainer/model/7/Format-Serving"
    assert list(model.version_aliases) == ["champion"]
    assert model.container_spec.image_uri == "serving:latest"
    assert dict(model.labels) == {
        "pipeline": "simclr-vertex",
        "git": "0123456789ab",
        "top1-permille": "735",
        "key-data": "a" * 32,
        "key-training": "f" * 32,
    }
    assert model.version_description == "pipeline run run-42"
    assert json.loads(model.description) == {"metrics": {"knn_top1": 0.7}, "data_fingerprint": "abc"}
    assert request.model_id == ""

    first = registry.upload_request("gs://bucket/m", metadata, ["champion"], first_version=True)
    assert first.model_id == "simclr-encoder" and first.parent_model == ""


def test_vertex_endpoint_deployment_is_off_by_default_and_a_new_version_takes_only_what_it_replaces():
    from google.cloud import aiplatform_v1

    from components.registry.config import registry_from_config
    from components.registry.vertex import VertexModelRegistry

    root = "gs://b/models"
    off = RegistryConfig(kind="vertex", project="p", region="r", model_root=root)
    assert registry_from_config(off).endpoint is None
    endpoint = "projects/my-project/locations/europe-west4/endpoints/99"
    registry = registry_from_config(
        RegistryConfig(
            kind="vertex", project="my-project", region="europe-west4", deploy_to_endpoint=endpoint, model_root=root
        )
    )
    assert isinstance(registry, VertexModelRegistry)
    model = "projects/123/locations/europe-west4/models/simclr-encoder"
    empty = aiplatform_v1.Endpoint(name=endpoint)
    request = registry.deploy_request("7", empty, model)
    assert isinstance(request, aiplatform_v1.DeployModelRequest)
    assert request.endpoint == endpoint
    assert request.deployed_model.model == "projects/my-project/locations/europe-west4/models/simclr-encoder@7"
    assert request.deployed_model.dedicated_resources.machine_spec.machine_type == "n1-standard-4"
    assert request.deployed_model.dedicated_resources.min_replica_count == 1
    assert dict(request.traffic_split) == {"0": 100}  # an empty endpoint: all of it
    shared = aiplatform_v1.Endpoint(
        name=endpoint,
        deployed_models=[
            aiplatform_v1.DeployedModel(id="11", model="projects/123/locations/europe-west4/models/other"),
            aiplatform_v1.DeployedModel(id="12", model=model, model_version_id="6"),
        ],
        traffic_split={"11": 70, "12": 30},
    )
    # The old champion's 30 % moves to the new version; the other model keeps its 70 %.
    assert dict(registry.deploy_request("7", shared, model).traffic_split) == {"11": 70, "0": 30}
    del shared.deployed_models[1]
    shared.traffic_split = {"11": 100}
    assert dict(registry.deploy_request("7", shared, model).traffic_split) == {"11": 100, "0": 0}


def test_vertex_push_refuses_a_local_model_path(tmp_path):
    from components.registry.vertex import VertexModelRegistry

    registry = VertexModelRegistry("p", "us-central1", "m", "serving:latest", model_root="gs://b/models")
    with pytest.raises(RegistryError, match="needs the model on gs://"):
        registry.push(str(tmp_path), version_metadata(), make_champion=True)


def test_a_vertex_champion_also_takes_the_default_alias_and_a_candidate_neither():
    from components.registry.vertex import VertexModelRegistry, version_aliases

    registry = VertexModelRegistry("p", "europe-west4", "encoder", "image")
    champion = registry.upload_request("gs://b/m", version_metadata(), version_aliases(True)).model
    assert sorted(champion.version_aliases) == ["champion", "default"]
    candidate = registry.upload_request("gs://b/m", version_metadata(), version_aliases(False)).model
    assert list(candidate.version_aliases) == ["candidate"]


ENDPOINT = "projects/p/locations/europe-west4/endpoints/9"
MODEL_ROOT = f"gs://{GCS_BUCKET}/models"
PARENT = "projects/p/locations/europe-west4/models/encoder"


@pytest.fixture
def vertex_api(tmp_path, monkeypatch):
    """The Vertex AI API fake (pipeline/offline_cloud/fake_vertex.py) on loopback, the registry's SDK clients
    pointed at it."""
    from pipeline.offline_cloud.fake_vertex import FakeVertex

    with FakeVertex(str(tmp_path / "vertex.json"), "p", "europe-west4", endpoints=[ENDPOINT]) as fake:
        for name, value in fake.env().items():
            monkeypatch.setenv(name, value)
        yield fake


@pytest.fixture
def exported(gcs, tmp_path):
    """pushable(name) -> gs:// URI of a small SavedModel folder in the fake bucket (the Trainer's export)."""

    def pushable(name: str) -> str:
        local = make_saved_model_dir(tmp_path / name, payload=name.encode())
        for path in pathlib.Path(local).rglob("*"):
            if path.is_file():
                gcs.blob(f"pipeline-root/Trainer/{name}/{path.relative_to(local)}").upload_from_filename(str(path))
        return f"gs://{GCS_BUCKET}/pipeline-root/Trainer/{name}"

    return pushable


def vertex_registry(model: str = "encoder", **options):
    from components.registry.vertex import VertexModelRegistry

    return VertexModelRegistry("p", "europe-west4", model, "image", model_root=MODEL_ROOT, **options)


def test_a_vertex_push_registers_a_copy_that_outlives_the_run(vertex_api, exported, gcs):
    source = exported("m1")
    vertex_registry().push(source, version_metadata(), make_champion=True)
    (upload,) = [c["request"] for c in vertex_api.calls() if c["method"] == "upload_model"]
    registered = upload["model"]["artifact_uri"]
    assert registered.startswith(f"{MODEL_ROOT}/encoder/") and not registered.startswith(source)
    kept = registered.removeprefix(f"gs://{GCS_BUCKET}/")
    assert gcs.blob(f"{kept}/saved_model.pb").download_as_bytes() == b"graph"
    for blob in list(gcs.list_blobs(prefix="pipeline-root/")):  # the run's artifacts expire
        blob.delete()
    assert gcs.blob(f"{kept}/variables/variables.data-00000-of-00001").download_as_bytes() == b"m1"


def test_a_push_that_vertex_refuses_leaves_no_copy_behind(tmp_path, monkeypatch, exported, gcs):
    from google.api_core import exceptions

    from pipeline.offline_cloud.fake_vertex import FakeVertex

    with FakeVertex(str(tmp_path / "refusing.json"), "p", "europe-west4", api_enabled=False) as fake:
        for name, value in fake.env().items():
            monkeypatch.setenv(name, value)
        source = exported("m1")
        with pytest.raises(exceptions.PermissionDenied, match="SERVICE_DISABLED"):
            vertex_registry("refused").push(source, version_metadata(), make_champion=True)
    left = [blob.name for blob in gcs.list_blobs(prefix="models/refused/") if not blob.name.endswith("/")]
    assert left == []  # TensorFlow's empty folder markers aside
    assert [blob.name for blob in gcs.list_blobs(prefix="pipeline-root/Trainer/m1/")]  # the run's own files stay


def test_the_vertex_fake_names_resources_by_project_number_and_refuses_an_alias_where_a_version_id_is_due(
    vertex_api, exported
):
    from google.api_core import exceptions

    registry = vertex_registry()
    registry.push(exported("m"), version_metadata(), make_champion=True)
    client = registry._client()
    model = client.get_model(name=f"{PARENT}@champion")
    assert model.name == "projects/123456789012/locations/europe-west4/models/encoder" and model.version_id == "1"
    with pytest.raises(exceptions.InvalidArgument, match="version ID"):
        client.merge_version_aliases(name=f"{PARENT}@champion", version_aliases=["golden"])
    with pytest.raises(exceptions.InvalidArgument, match="default alias cannot be removed"):
        client.merge_version_aliases(name=f"{PARENT}@1", version_aliases=["-default"])


def test_the_classifier_is_a_second_vertex_model_labelled_with_the_encoder_version_it_came_from(vertex_api, exported):
    from pipeline.config import RegistryConfig

    config = RegistryConfig(model_name="encoder")
    encoder = vertex_registry(config.model_name)
    classifier = vertex_registry(config.for_classifier().model_name)
    for run in range(2):
        encoder_version = encoder.push(exported(f"encoder-{run}"), version_metadata(0.6), make_champion=True)
    classifier.push(exported("classifier"), version_metadata(0.7, encoder_version=encoder_version), True)
    model = classifier._client().get_model(name=f"{classifier.parent_model}@champion")
    assert model.name.endswith(f"/models/{config.for_classifier().model_name}") and model.version_id == "1"
    assert model.labels["encoder-version"] == encoder_version == "2"
    assert encoder.champion().version == "2" and classifier.champion().version == "1"  # aliases apart per model
    assert [version.version for version in encoder.list_versions()] == ["1", "2"]


def test_a_second_vertex_champion_keeps_the_first_as_previous_and_undeploys_it_once_traffic_moved(vertex_api, exported):
    from google.cloud import aiplatform_v1

    other = vertex_registry("other", endpoint=ENDPOINT)
    other.push(
        exported("other"), version_metadata(), make_champion=True
    )  # another model served on the same endpoint: 100 %
    registry = vertex_registry(endpoint=ENDPOINT)
    assert registry.push(exported("m1"), version_metadata(), make_champion=True) == "1"
    endpoints = registry._connect(aiplatform_v1.EndpointServiceClient)
    # Vertex AI moves traffic only by request: the first version takes none from the other model.
    assert dict(endpoints.get_endpoint(name=ENDPOINT).traffic_split) == {"1": 100, "2": 0}
    endpoints.deploy_model(  # the user gives the encoder half, as the warning says to
        request=aiplatform_v1.DeployModelRequest(
            endpoint=ENDPOINT,
            deployed_model=aiplatform_v1.DeployedModel(model=f"{PARENT}@1"),
            traffic_split={"1": 50, "2": 50, "0": 0},
        )
    ).result()
    assert registry.push(exported("m2"), version_metadata(), make_champion=True) == "2"
    assert vertex_api.aliases("encoder") == {"champion": "2", "default": "2", "previous-champion": "1"}
    merges = [c["request"] for c in vertex_api.calls() if c["method"] == "merge_version_aliases"]
    assert merges == [{"name": f"{PARENT}@1", "version_aliases": ["previous-champion"]}]
    endpoint = endpoints.get_endpoint(name=ENDPOINT)
    assert endpoint.name.startswith("projects/123456789012/")
    served = {(d.model.rsplit("/", 1)[-1], d.model_version_id) for d in endpoint.deployed_models}
    assert served == {("other", "1"), ("encoder", "2")}  # the replaced champions are undeployed, the other stays
    shares = {d.model.rsplit("/", 1)[-1]: endpoint.traffic_split.get(d.id, 0) for d in endpoint.deployed_models}
    assert shares == {"other": 50, "encoder": 50}  # the new champion took its predecessors' half, no more


def run_registry_cli(config, *argv):
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = cli.main(["registry", *argv, "--config", str(config)])
    return code, stdout.getvalue()


@pytest.fixture
def vertex_registry_config(tmp_path):
    config = tmp_path / "vertex-registry.yaml"
    config.write_text(
        f"registry: {{kind: vertex, project: p, region: europe-west4, model_name: encoder, model_root: {MODEL_ROOT}}}\n"
    )
    return config


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["list"], [("ListModelVersions", {"name": "models/encoder"})]),
        (["show", "3"], [("GetModel", {"name": "models/encoder@3"})]),
        (["show"], [("GetModel", {"name": "models/encoder@champion"})]),
        (
            ["promote", "3"],
            [
                (
                    "MergeVersionAliases",
                    {"name": "models/encoder@<version holding champion>", "versionAliases": ["previous-champion"]},
                ),
                ("MergeVersionAliases", {"name": "models/encoder@3", "versionAliases": ["champion", "default"]}),
            ],
        ),
        (
            ["rollback"],
            [
                (
                    "MergeVersionAliases",
                    {
                        "name": "models/encoder@<version holding previous-champion>",
                        "versionAliases": ["champion", "default", "-previous-champion"],
                    },
                )
            ],
        ),
    ],
)
def test_registry_commands_on_a_vertex_config_print_their_requests_in_a_dry_run(vertex_registry_config, argv, expected):
    from google.cloud import aiplatform_v1

    code, out = run_registry_cli(vertex_registry_config, *argv, "--dry-run")
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["method"] for line in lines] == [method for method, _ in expected]
    for line, (method, fields) in zip(lines, expected):
        request = getattr(aiplatform_v1, f"{method}Request").from_json(json.dumps(line["request"]))  # the SDK's type
        assert request.name == f"projects/p/locations/europe-west4/{fields['name']}"
        if "versionAliases" in fields:
            assert list(request.version_aliases) == fields["versionAliases"]


def test_vertex_promote_and_rollback_move_the_champion_one_step_back(vertex_registry_config, vertex_api, exported):
    registry = vertex_registry()
    for name in ("m1", "m2"):
        registry.push(exported(name), version_metadata(), make_champion=True)
    assert run_registry_cli(vertex_registry_config, "promote", "1") == (
        0,
        f"champion of Vertex AI Model Registry {PARENT} is now version 1\n",
    )
    assert vertex_api.aliases("encoder") == {"champion": "1", "default": "1", "previous-champion": "2"}
    code, out = run_registry_cli(vertex_registry_config, "rollback")
    assert code == 0 and out.endswith("is now version 2\n")
    assert vertex_api.aliases("encoder") == {"champion": "2", "default": "2"}


def test_a_second_vertex_rollback_is_refused_in_one_line(vertex_registry_config, vertex_api, exported, capsys):
    vertex_registry().push(exported("m1"), version_metadata(), make_champion=True)
    code, _ = run_registry_cli(vertex_registry_config, "rollback")
    assert code != 0
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "no earlier champion to roll back to" in error


def test_a_dry_run_on_a_local_registry_is_refused_in_one_line(tmp_path, capsys):
    config = tmp_path / "local.yaml"
    config.write_text(f"registry: {{root: {tmp_path / 'registry'}}}\n")
    code, _ = run_registry_cli(config, "list", "--dry-run")
    assert code != 0 and "--dry-run prints Vertex AI requests" in capsys.readouterr().err
