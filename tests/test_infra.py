"""infra/ Terraform, parsed with python-hcl2 and checked: private bucket, least-privilege service account."""

import json
import pathlib
import re

import hcl2
import pytest

INFRA = pathlib.Path(__file__).resolve().parent.parent / "infra"
PRIMITIVE_ROLES = {"roles/owner", "roles/editor", "roles/viewer"}
PUBLIC_MEMBERS = ("allUsers", "allAuthenticatedUsers")


def normalise(value):
    """python-hcl2 8 keeps HCL's quotes on names and strings ('"enforced"') and marks blocks; drop both."""
    if isinstance(value, dict):
        return {normalise(key): normalise(item) for key, item in value.items() if key != "__is_block__"}
    if isinstance(value, list):
        return [normalise(item) for item in value]
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


@pytest.fixture(scope="module")
def terraform():
    """{block kind: [parsed blocks]} over every .tf file, plus the raw text."""
    merged, text = {}, ""
    for path in sorted(INFRA.glob("*.tf")):
        text += path.read_text()
        with open(path) as handle:
            for kind, blocks in normalise(hcl2.load(handle)).items():
                merged.setdefault(kind, []).extend(blocks)
    merged["_text"] = text
    return merged


def resources(terraform, resource_type):
    return {
        name: body
        for block in terraform.get("resource", [])
        for kind, named in block.items()
        if kind == resource_type
        for name, body in named.items()
    }


def test_nothing_is_granted_to_the_public(terraform):
    for member in PUBLIC_MEMBERS:
        assert member not in terraform["_text"]
    for resource_type in (
        "google_storage_bucket_iam_member",
        "google_project_iam_member",
        "google_artifact_registry_repository_iam_member",
        "google_service_account_iam_member",
    ):
        for name, body in resources(terraform, resource_type).items():
            if name == "submitters_act_as_pipeline":  # people, from the validated submitters variable
                assert body["member"] == "${each.value}" and "var.submitters" in json.dumps(body["for_each"])
                continue
            assert body["member"].startswith("serviceAccount:"), name


def test_no_primitive_roles(terraform):
    roles = set(re.findall(r"roles/[A-Za-z.]+", terraform["_text"]))
    assert roles and not roles & PRIMITIVE_ROLES


def test_the_bucket_is_private_versioned_and_expires_old_runs(terraform):
    buckets = resources(terraform, "google_storage_bucket")
    assert list(buckets) == ["pipeline"]
    bucket = buckets["pipeline"]
    assert bucket["uniform_bucket_level_access"] is True
    assert bucket["public_access_prevention"] == "enforced"
    assert bucket["versioning"][0]["enabled"] is True
    rules = bucket["lifecycle_rule"]
    run_rule = [r for r in rules if r["condition"][0].get("matches_prefix") == ["pipeline-root/"]]
    assert len(run_rule) == 1 and run_rule[0]["action"][0]["type"] == "Delete"


def test_the_service_account_has_exactly_the_roles_the_pipeline_needs(terraform):
    project_roles = set(terraform["locals"][0]["pipeline_project_roles"])
    # dataflow.admin: the IAM documentation's minimal role for creating Dataflow jobs.
    assert project_roles == {
        "roles/aiplatform.user",
        "roles/dataflow.admin",
        "roles/dataflow.worker",
        "roles/logging.logWriter",
    }
    for body in resources(terraform, "google_project_iam_member").values():
        assert "pipeline_project_roles" in json.dumps(body["for_each"])
    bucket_roles = set(terraform["locals"][0]["pipeline_bucket_roles"])
    assert bucket_roles == {"roles/storage.objectUser", "roles/storage.legacyBucketReader"}
    for body in resources(terraform, "google_storage_bucket_iam_member").values():
        assert "pipeline_bucket_roles" in json.dumps(body["for_each"])
        assert "google_storage_bucket.pipeline.name" in body["bucket"]  # this bucket only, not the project
    registry_roles = {
        b["role"] for b in resources(terraform, "google_artifact_registry_repository_iam_member").values()
    }
    assert registry_roles == {"roles/artifactregistry.reader"}
    assert "roles/storage.objectAdmin" not in terraform["_text"] and "roles/storage.admin" not in terraform["_text"]
    for role in project_roles | bucket_roles:  # each role says why it stays
        line = next(line for line in terraform["_text"].splitlines() if f'"{role}"' in line)
        previous = terraform["_text"].split(line)[0].rstrip().splitlines()[-1].strip()
        assert "#" in line or previous.startswith("#"), role


def test_submitters_may_run_pipelines_as_the_pipeline_account(terraform):
    grant = resources(terraform, "google_service_account_iam_member")["submitters_act_as_pipeline"]
    assert grant["role"] == "roles/iam.serviceAccountUser"
    assert "google_service_account.pipeline.name" in grant["service_account_id"]
    (variable,) = [body for block in terraform["variable"] for name, body in block.items() if name == "submitters"]
    assert variable["default"] == [] and variable["validation"]
    (pattern,) = re.findall(r'regex\("([^"]+)"', variable["validation"][0]["condition"])
    assert re.match(pattern, "user:alice@example.com") and re.match(pattern, "group:ml@example.com")
    assert not re.match(pattern, "allUsers") and not re.match(pattern, "alice@example.com")


def test_required_apis_repository_and_tensorboard_exist(terraform):
    apis = set(terraform["locals"][0]["apis"])
    assert {
        "aiplatform.googleapis.com",
        "dataflow.googleapis.com",
        "artifactregistry.googleapis.com",
        "storage.googleapis.com",
    } <= apis
    assert resources(terraform, "google_artifact_registry_repository")["images"]["format"] == "DOCKER"
    assert "pretraining" in resources(terraform, "google_vertex_ai_tensorboard")


def test_outputs_fill_every_vertex_setting_the_template_leaves_open(terraform):
    outputs = {name: body for block in terraform["output"] for name, body in block.items()}
    vertex_yaml = outputs["vertex_yaml"]["value"]
    for setting in ("pipeline_root:", "image:", "service_account:", "tensorboard:", "temp_location:", "data:"):
        assert setting in vertex_yaml, setting
    template = (INFRA.parent / "pipeline" / "configs" / "vertex.yaml").read_text()
    for placeholder in set(re.findall(r"<[a-z]+>", template)):
        assert placeholder in ("<project>", "<id>"), placeholder


def locked_versions() -> dict:
    lock = (INFRA.parent / "requirements.lock").read_text()
    return dict(re.findall(r"^([A-Za-z0-9_.-]+)==([^\s;]+)", lock, flags=re.M))


def dockerfile_stages() -> dict:
    """{stage name: {"from": image, "lines": [instructions]}}, plus "ARG" defaults under "_args"."""
    text = (INFRA.parent / "Dockerfile").read_text().replace("\\\n", " ")
    stages, current, args = {}, None, {}
    for line in (line.strip() for line in text.splitlines()):
        if not line or line.startswith("#"):
            continue
        if line.startswith("ARG ") and "=" in line:
            name, value = line[4:].split("=", 1)
            args[name.strip()] = value.strip()
        if line.startswith("FROM "):
            image, _, name = line[5:].partition(" AS ")
            current = stages[name.strip()] = {"from": image.strip(), "lines": []}
        elif current is not None:
            current["lines"].append(line)
    stages["_args"] = args
    return stages


# Cloud TPU's supported configurations: the libtpu release for each TensorFlow release.
LIBTPU_FOR_TENSORFLOW = {
    "2.15.0": "1.9.0",
    "2.15.1": "1.9.0",
    "2.16.1": "1.10.1",
    "2.16.2": "1.10.1",
    "2.17.0": "1.11.0",
    "2.17.1": "1.11.1",
    "2.18.0": "1.12.0",
}


def test_the_images_pin_what_requirements_lock_pins():
    stages, locked = dockerfile_stages(), locked_versions()
    args = stages["_args"]
    assert stages["pipeline"]["from"] == f"gcr.io/tfx-oss-public/tfx:{locked['tfx']}"
    assert args["BEAM_VERSION"] == locked["apache-beam"]
    assert stages["beam"]["from"] == "apache/beam_python3.10_sdk:${BEAM_VERSION}"
    assert args["TENSORFLOW_VERSION"] == locked["tensorflow"]
    assert args["LIBTPU_VERSION"] == LIBTPU_FOR_TENSORFLOW[locked["tensorflow"]]
    assert any("-r requirements.lock" in line for line in stages["pipeline"]["lines"])


def test_the_pipeline_image_starts_as_a_dataflow_worker_and_as_a_vertex_step():
    lines = dockerfile_stages()["pipeline"]["lines"]
    assert "COPY --from=beam /opt/apache/beam /opt/apache/beam" in lines  # boot of the locked Beam version
    assert lines[-1] == 'ENTRYPOINT ["/opt/apache/beam/boot"]'  # Dataflow runs it; Vertex AI replaces it
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users in ([], ["root"])  # Dataflow's worker folders are root's
    ignored = set((INFRA.parent / ".dockerignore").read_text().split())
    assert {"data", ".venv", "runs"} <= ignored


def test_the_tpu_image_adds_the_tpu_runtime_to_the_pipeline_image():
    tpu = dockerfile_stages()["tpu"]
    assert tpu["from"] == "pipeline"  # TFX and the project, for TFX's run_executor
    text = " ".join(tpu["lines"])
    assert (
        "cloud-tpu-tpuvm-artifacts/tensorflow/tf-${TENSORFLOW_VERSION}/tensorflow-${TENSORFLOW_VERSION}-cp310" in text
    )
    assert "libtpu/${LIBTPU_VERSION}/libtpu.so" in text and "/lib/libtpu.so" in text
    assert "TF_PLUGGABLE_DEVICE_LIBRARY_PATH=/lib/libtpu.so" in text and "NEXT_PLUGGABLE_DEVICE_USE_C_API=true" in text


def test_make_image_builds_and_pushes_both_images():
    makefile = (INFRA.parent / "Makefile").read_text()
    recipe = makefile.split("\nimage:")[1].split("\n\n")[0]
    assert "--target pipeline" in recipe and "-t $(IMAGE)" in recipe and "docker push $(IMAGE)" in recipe
    assert "--target tpu" in recipe and "-t $(TPU_IMAGE)" in recipe and "docker push $(TPU_IMAGE)" in recipe
