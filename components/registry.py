"""Model registries that blessed encoders are pushed to, behind one interface.

LocalRegistry (the default) is a folder:

    <root>/<model>/<version>/saved_model/   the SavedModel, read-only once pushed
    <root>/<model>/<version>/metadata.json  metrics, config, data fingerprint, run id, git revision, time
    <root>/<model>/champion.json            the champion pointer and its history

A push copies the model into a staging folder beside the versions and renames it
to the next free version number; rename is atomic, and a version that already
exists makes the rename fail, so concurrent pushes get distinct versions and a
reader never sees a half-written one. The champion pointer is rewritten under a
file lock with an atomic replace; it moves only on a blessed push, a promote or
a rollback.

VertexModelRegistry builds the same push as a Vertex AI Model Registry upload:
a new version of the parent model with aliases, served by the TF Serving image.
Its champion is the version holding the ``champion`` alias (and ``default``, which
a bare model name resolves to); the champion before it holds ``previous-champion``,
one step of history that ``rollback`` returns to. Every request is built first with
the SDK's own types (``requests``), so that ``--dry-run`` prints what would be sent.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import json
import os
import shutil
import stat
import uuid
from typing import Dict, List, Literal, Optional, Sequence

import pydantic
from pydantic import Field

from components.errors import DataError
from trainer.config import Section

METADATA_FILE = "metadata.json"
SAVED_MODEL_DIR = "saved_model"
CHAMPION_FILE = "champion.json"
CHAMPION_ALIAS = "champion"
CANDIDATE_ALIAS = "candidate"
DEFAULT_ALIAS = "default"  # Vertex AI: what a bare model name resolves to
PREVIOUS_CHAMPION_ALIAS = "previous-champion"  # Vertex AI: what rollback restores
# Vertex AI labels hold at most 63 characters, so fingerprints are kept (and compared) as 128-bit prefixes.
FINGERPRINT_DIGITS = 32


class RegistryError(DataError):
    """A registry operation that the user asked for cannot be done (unknown version, nothing to roll back)."""


def utc_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


class LocalRegistry:
    def __init__(self, root: str, model_name: str):
        self.root = os.path.abspath(root)
        self.model_name = model_name
        self.model_dir = os.path.join(self.root, model_name)

    # --- reading -------------------------------------------------------------------------
    def versions(self) -> List[str]:
        if not os.path.isdir(self.model_dir):
            return []
        return sorted((name for name in os.listdir(self.model_dir) if name.isdigit()), key=int)

    def metadata(self, version: str) -> Dict:
        path = os.path.join(self.model_dir, str(version), METADATA_FILE)
        if not os.path.isfile(path):
            raise RegistryError(f"model {self.model_name} has no version {version} in {self.root}")
        with open(path) as handle:
            return json.load(handle)

    def saved_model_path(self, version: str) -> str:
        return os.path.join(self.model_dir, str(version), SAVED_MODEL_DIR)

    def pointer(self) -> Dict:
        path = os.path.join(self.model_dir, CHAMPION_FILE)
        if not os.path.isfile(path):
            return {"version": None, "history": []}
        with open(path) as handle:
            return json.load(handle)

    def champion(self) -> Optional[Dict]:
        """The champion's metadata (with its version), or None before the first blessed push."""
        version = self.pointer()["version"]
        return None if version is None else self.metadata(version)

    # --- writing -------------------------------------------------------------------------
    def push(self, saved_model_dir: str, metadata: Dict, make_champion: bool) -> str:
        """Copies the SavedModel in as a new immutable version; returns the version."""
        os.makedirs(self.model_dir, exist_ok=True)
        staging = os.path.join(self.model_dir, f".staging-{uuid.uuid4().hex}")
        try:
            from trainer import uri_io  # TensorFlow: loaded only to push, so `registry list` stays instant

            uri_io.copy_tree(saved_model_dir, os.path.join(staging, SAVED_MODEL_DIR))  # the model may be on gs://
            version = self._publish(staging, metadata)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        if make_champion:
            self._move_champion(version, reason="blessed push")
        return version

    def _publish(self, staging: str, metadata: Dict) -> str:
        while True:
            existing = self.versions()
            version = str(int(existing[-1]) + 1 if existing else 1)
            with open(os.path.join(staging, METADATA_FILE), "w") as handle:
                json.dump(
                    {**metadata, "model": self.model_name, "version": version, "pushed_at": utc_now()}, handle, indent=2
                )
            try:
                os.rename(staging, os.path.join(self.model_dir, version))
            except OSError as error:  # another push took this number first
                if error.errno in (errno.EEXIST, errno.ENOTEMPTY):
                    continue
                raise
            _make_read_only(os.path.join(self.model_dir, version))
            return version

    def promote(self, version: str) -> None:
        self.metadata(version)  # refuses unknown versions
        self._move_champion(str(version), reason="promote")

    def rollback(self) -> str:
        """Moves the champion back to the one before it; returns that version."""
        with self._lock():
            pointer = self.pointer()
            previous = [entry["version"] for entry in pointer["history"][:-1]]
            if not previous:
                raise RegistryError(f"model {self.model_name} has no earlier champion to roll back to")
            self._write_pointer(previous[-1], "rollback", pointer, drop_last=True)
            return previous[-1]

    def _move_champion(self, version: str, reason: str) -> None:
        with self._lock():
            self._write_pointer(version, reason, self.pointer())

    def _write_pointer(self, version: str, reason: str, pointer: Dict, drop_last: bool = False) -> None:
        history = (
            pointer["history"][:-1]
            if drop_last
            else pointer["history"] + [{"version": version, "reason": reason, "at": utc_now()}]
        )
        if drop_last:
            history[-1] = {**history[-1], "restored_at": utc_now()}
        path = os.path.join(self.model_dir, CHAMPION_FILE)
        temporary = f"{path}.{uuid.uuid4().hex}"
        with open(temporary, "w") as handle:
            json.dump({"version": version, "history": history}, handle, indent=2)
        os.replace(temporary, path)

    @contextlib.contextmanager
    def _lock(self):
        os.makedirs(self.model_dir, exist_ok=True)
        with open(os.path.join(self.model_dir, ".lock"), "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def describe(self) -> str:
        return f"local registry {self.model_dir}"


def _make_read_only(root: str) -> None:
    for directory, _, files in os.walk(root):
        for name in files:
            path = os.path.join(directory, name)
            os.chmod(path, os.stat(path).st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


class VertexModelRegistry:
    """Vertex AI Model Registry: each push is a new version of one parent model."""

    def __init__(
        self,
        project: str,
        region: str,
        model_name: str,
        serving_image: str,
        endpoint: Optional[str] = None,
        endpoint_machine_type: str = "n1-standard-4",
    ):
        self.project, self.region, self.model_name, self.serving_image = project, region, model_name, serving_image
        self.endpoint, self.endpoint_machine_type = endpoint, endpoint_machine_type

    @property
    def parent_model(self) -> str:
        return f"projects/{self.project}/locations/{self.region}/models/{self.model_name}"

    def upload_request(self, artifact_uri: str, metadata: Dict, aliases: Sequence[str], first_version: bool = False):
        """The exact UploadModelRequest a push sends: a new version of the parent model, or its first version."""
        from google.cloud import aiplatform_v1

        metrics = metadata.get("metrics", {})
        labels = {
            "pipeline": _label(metadata.get("pipeline_name", "")),
            "git": _label(metadata.get("git_revision", ""))[:12],
        }
        if "top1" in metadata.get("blessing", {}):
            labels["top1-permille"] = str(round(1000 * metadata["blessing"]["top1"]))
        # What DataFingerprint compares on a scheduled retrain (a 128-bit prefix fits a label).
        for label, key in (("data-fingerprint", "data_fingerprint"), ("training-digest", "training_digest")):
            labels[label] = (metadata.get(key) or "")[:FINGERPRINT_DIGITS]
        return aiplatform_v1.UploadModelRequest(
            parent=f"projects/{self.project}/locations/{self.region}",
            # The API takes parent_model for a new version and model_id for the first one, never both.
            parent_model="" if first_version else self.parent_model,
            model_id=self.model_name if first_version else "",
            model=aiplatform_v1.Model(
                display_name=self.model_name,
                description=json.dumps({"metrics": metrics, "data_fingerprint": metadata.get("data_fingerprint")})[
                    :2000
                ],
                artifact_uri=artifact_uri,
                version_aliases=list(aliases),
                version_description=f"pipeline run {metadata.get('pipeline_run_id')}",
                container_spec=aiplatform_v1.ModelContainerSpec(image_uri=self.serving_image),
                labels={key: value for key, value in labels.items() if value},
            ),
        )

    def push(self, saved_model_dir: str, metadata: Dict, make_champion: bool) -> str:
        from google.api_core import exceptions

        if not saved_model_dir.startswith("gs://"):
            raise RegistryError(
                f"Vertex AI needs the model on gs://, not {saved_model_dir}: run the pipeline on Vertex"
            )
        client = self._client()
        try:
            client.get_model(name=self.parent_model)
            first_version = False
        except exceptions.NotFound:
            first_version = True
        if make_champion and not first_version:
            self._send(client, self.keep_previous_champion_request(), missing_ok=True)  # none yet: nothing to keep
        request = self.upload_request(saved_model_dir, metadata, version_aliases(make_champion), first_version)
        operation = client.upload_model(request=request)
        version = operation.result().model_version_id
        if self.endpoint and make_champion:
            from google.cloud import aiplatform_v1

            endpoints = aiplatform_v1.EndpointServiceClient(client_options=self._client_options())
            endpoints.deploy_model(request=self.deploy_request(version)).result()
            # All traffic is on the new version now; the versions it replaced stop being billed.
            for undeploy in self.undeploy_requests(endpoints.get_endpoint(name=self.endpoint), version):
                endpoints.undeploy_model(request=undeploy).result()
        return version

    def undeploy_requests(self, endpoint, keep_version: str) -> list:
        """UndeployModelRequests for every version of this model on ``endpoint`` (an aiplatform_v1.Endpoint)
        except ``keep_version``; other models on the endpoint are left alone."""
        from google.cloud import aiplatform_v1

        return [
            aiplatform_v1.UndeployModelRequest(endpoint=self.endpoint, deployed_model_id=deployed.id)
            for deployed in endpoint.deployed_models
            if deployed.model.split("@")[0] == self.parent_model and deployed.model_version_id != str(keep_version)
        ]

    def keep_previous_champion_request(self):
        """Gives the current champion the ``previous-champion`` alias, before a new champion takes ``champion``."""
        from google.cloud import aiplatform_v1

        return aiplatform_v1.MergeVersionAliasesRequest(
            name=f"{self.parent_model}@{CHAMPION_ALIAS}", version_aliases=[PREVIOUS_CHAMPION_ALIAS]
        )

    def requests(self, action: str, version: Optional[str] = None) -> list:
        """The requests of a registry command, in the order they are sent: list, show, promote or rollback."""
        from google.cloud import aiplatform_v1

        if action == "list":
            return [aiplatform_v1.ListModelVersionsRequest(name=self.parent_model, page_size=100)]
        if action == "show":
            return [aiplatform_v1.GetModelRequest(name=f"{self.parent_model}@{version or CHAMPION_ALIAS}")]
        if action == "promote":
            return [
                self.keep_previous_champion_request(),
                aiplatform_v1.MergeVersionAliasesRequest(
                    name=f"{self.parent_model}@{version}", version_aliases=version_aliases(True)
                ),
            ]
        if action == "rollback":  # the previous champion becomes the champion; history is one step deep
            return [
                aiplatform_v1.MergeVersionAliasesRequest(
                    name=f"{self.parent_model}@{PREVIOUS_CHAMPION_ALIAS}",
                    version_aliases=version_aliases(True) + [f"-{PREVIOUS_CHAMPION_ALIAS}"],
                )
            ]
        raise ValueError(f"unknown registry action {action!r}")

    def run(self, action: str, version: Optional[str] = None) -> list:
        """Sends an action's requests; returns the models (aiplatform_v1.Model) they answered with."""
        client, answers = self._client(), []
        keep_previous = self.keep_previous_champion_request()
        for request in self.requests(action, version):
            if action == "list":
                answers.extend(client.list_model_versions(request=request))
                continue
            # Promoting with no champion yet: there is no previous champion to keep.
            answer = self._send(client, request, missing_ok=request == keep_previous)
            if answer is not None:
                answers.append(answer)
        return answers

    def _send(self, client, request, missing_ok: bool = False):
        from google.api_core import exceptions
        from google.cloud import aiplatform_v1

        method = {
            aiplatform_v1.GetModelRequest: client.get_model,
            aiplatform_v1.MergeVersionAliasesRequest: client.merge_version_aliases,
        }[type(request)]
        try:
            return method(request=request)
        except exceptions.NotFound:
            if missing_ok:
                return None
            if request.name.endswith(f"@{PREVIOUS_CHAMPION_ALIAS}"):
                raise RegistryError(f"model {self.parent_model} has no earlier champion to roll back to") from None
            raise RegistryError(f"{request.name} does not exist in Vertex AI Model Registry") from None

    def deploy_request(self, version: str):
        """The DeployModelRequest that serves a version on the configured endpoint with all of its traffic."""
        from google.cloud import aiplatform_v1

        return aiplatform_v1.DeployModelRequest(
            endpoint=self.endpoint,
            deployed_model=aiplatform_v1.DeployedModel(
                model=f"{self.parent_model}@{version}",
                display_name=f"{self.model_name}-v{version}",
                dedicated_resources=aiplatform_v1.DedicatedResources(
                    machine_spec=aiplatform_v1.MachineSpec(machine_type=self.endpoint_machine_type),
                    min_replica_count=1,
                    max_replica_count=1,
                ),
            ),
            traffic_split={"0": 100},  # "0" is the model being deployed
        )

    def _client(self):
        from google.cloud import aiplatform_v1

        return aiplatform_v1.ModelServiceClient(client_options=self._client_options())

    def _client_options(self) -> Dict:
        return {"api_endpoint": f"{self.region}-aiplatform.googleapis.com"}

    def champion(self) -> Optional[Dict]:
        from google.api_core import exceptions

        try:
            model = self._client().get_model(name=f"{self.parent_model}@{CHAMPION_ALIAS}")
        except exceptions.NotFound:
            return None
        permille = model.labels.get("top1-permille")
        return {
            "version": model.version_id,
            "blessing": {"top1": int(permille) / 1000 if permille else None},
            "data_fingerprint": model.labels.get("data-fingerprint"),
            "training_digest": model.labels.get("training-digest"),
        }

    def describe(self) -> str:
        return f"Vertex AI Model Registry {self.parent_model}"


def version_aliases(make_champion: bool) -> List[str]:
    """A champion also takes ``default``, so that the bare model name serves it (an alias names one version,
    so this moves it); a candidate takes neither."""
    return [CHAMPION_ALIAS, DEFAULT_ALIAS] if make_champion else [CANDIDATE_ALIAS]


def _label(value: str) -> str:
    """A Vertex label value: lowercase letters, digits, - and _, at most 63 characters."""
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in value.lower())[:63]


class RegistryConfig(Section):
    """Where blessed encoders go: a local versioned folder, or Vertex AI Model Registry."""

    kind: Literal["local", "vertex"] = "local"
    root: str = Field("registry", description="Local registry folder (kind: local).")
    model_name: str = Field("simclr-encoder", pattern=r"^[a-z0-9][a-z0-9_-]*$")
    project: Optional[str] = Field(None, description="GCP project (kind: vertex).")
    region: Optional[str] = Field(None, description="Vertex AI region (kind: vertex).")
    serving_image: str = Field(
        "us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-15:latest",
        description="TF Serving container that Vertex AI serves the SavedModel with (kind: vertex).",
    )
    deploy_to_endpoint: Optional[str] = Field(
        None,
        description="kind vertex: an Endpoint resource name that each new champion is deployed to; off by default.",
    )
    endpoint_machine_type: str = "n1-standard-4"

    @pydantic.field_validator("root")
    @classmethod
    def _local_root(cls, value: str) -> str:
        if "://" in value:
            raise ValueError(
                f"a local registry is a folder on this machine, not {value!r}; use kind 'vertex' in the cloud"
            )
        return value

    @pydantic.model_validator(mode="after")
    def _vertex_needs_project(self):
        if self.kind == "vertex" and not (self.project and self.region):
            raise ValueError("registry kind 'vertex' needs 'project' and 'region'")
        return self


def registry_from_config(registry_config: RegistryConfig) -> "LocalRegistry | VertexModelRegistry":
    if registry_config.kind == "vertex":
        assert registry_config.project and registry_config.region  # checked by RegistryConfig
        return VertexModelRegistry(
            registry_config.project,
            registry_config.region,
            registry_config.model_name,
            registry_config.serving_image,
            endpoint=registry_config.deploy_to_endpoint,
            endpoint_machine_type=registry_config.endpoint_machine_type,
        )
    return LocalRegistry(registry_config.root, registry_config.model_name)
