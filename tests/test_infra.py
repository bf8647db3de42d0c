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
    return {name: body for block in terraform.get("resource", []) for kind, named in block.items()
            if kind == resource_type for name, body in named.items()}


def test_nothing_is_granted_to_the_public(terraform):
    for member in PUBLIC_MEMBERS:
        assert member not in terraform["_text"]
    for resource_type in ("google_storage_bucket_iam_member", "google_project_iam_member",
                          "google_artifact_registry_repository_iam_member", "google_service_account_iam_member"):
        for name, body in resources(terraform, resource_type).items():
            assert body["member"].startswith("serviceAccount:"), name


def test_no_primitive_roles(terraform):
    roles = set(re.findall(r'roles/[A-Za-z.]+', terraform["_text"]))
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
    assert project_roles == {"roles/aiplatform.user", "roles/dataflow.developer", "roles/dataflow.worker",
                             "roles/logging.logWriter"}
    for body in resources(terraform, "google_project_iam_member").values():
        assert "pipeline_project_roles" in json.dumps(body["for_each"])
    bucket_roles = set(terraform["locals"][0]["pipeline_bucket_roles"])
    assert bucket_roles == {"roles/storage.objectAdmin", "roles/storage.legacyBucketReader"}
    for body in resources(terraform, "google_storage_bucket_iam_member").values():
        assert "pipeline_bucket_roles" in json.dumps(body["for_each"])
        assert "google_storage_bucket.pipeline.name" in body["bucket"]  # this bucket only, not the project
    registry_roles = {b["role"] for b in resources(terraform, "google_artifact_registry_repository_iam_member").values()}
    assert registry_roles == {"roles/artifactregistry.reader"}
    assert "roles/storage.objectAdmin" not in project_roles and "roles/storage.admin" not in terraform["_text"]


def test_required_apis_repository_and_tensorboard_exist(terraform):
    apis = set(terraform["locals"][0]["apis"])
    assert {"aiplatform.googleapis.com", "dataflow.googleapis.com", "artifactregistry.googleapis.com",
            "storage.googleapis.com"} <= apis
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


def test_the_image_is_the_tfx_image_plus_the_locked_project_run_as_non_root():
    root = INFRA.parent
    lines = [line.strip() for line in (root / "Dockerfile").read_text().splitlines()
             if line.strip() and not line.strip().startswith("#")]
    assert lines[0] == "FROM gcr.io/tfx-oss-public/tfx:1.16.0"
    assert any("-r requirements.lock" in line for line in lines)
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    ignored = set((root / ".dockerignore").read_text().split())
    assert {"data", ".venv", "runs"} <= ignored
    makefile = (root / "Makefile").read_text()
    assert "\nimage:" in makefile and "docker push $(IMAGE)" in makefile
