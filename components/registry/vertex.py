"""Vertex AI Model Registry behind ``Registry``: each push is a new version of one parent model.

A push is a Model Registry upload: a new version of the parent model with aliases, served by the
TF Serving image. Its champion is the version holding the ``champion`` alias (and ``default``, which
a bare model name resolves to); the champion before it holds ``previous-champion``, one step of
history that ``rollback`` returns to. Every request is built first with the SDK's own types
(``requests``), so that ``--dry-run`` prints what would be sent.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import uuid
from typing import Any, Callable, Dict, List, Optional, Sequence

from components.registry.protocol import (
    CANDIDATE_ALIAS,
    CHAMPION_ALIAS,
    DEFAULT_ALIAS,
    PREVIOUS_CHAMPION_ALIAS,
    RegistryError,
)
from shared import stage_keys
from shared.api_json import request_json
from shared.records import Champion, RegistryVersion, VersionMetadata

# host:port of a Vertex AI API emulator (the rehearsal's, pipeline/offline_cloud/fake_vertex.py); unset: the real API.
VERTEX_EMULATOR_ENV = "SIMCLR_VERTEX_EMULATOR_HOST"
STAGE_KEY_LABEL = "key-{}"  # Vertex AI: one label per stage key (shared/stage_keys.py), its 128-bit prefix


class VertexModelRegistry:
    """A ``Registry`` in Vertex AI Model Registry (module docstring)."""

    def __init__(
        self,
        project: str,
        region: str,
        model_name: str,
        serving_image: str,
        endpoint: Optional[str] = None,
        endpoint_machine_type: str = "n1-standard-4",
        model_root: Optional[str] = None,
    ):
        self.project, self.region, self.model_name, self.serving_image = project, region, model_name, serving_image
        self.endpoint, self.endpoint_machine_type, self.model_root = endpoint, endpoint_machine_type, model_root

    @property
    def parent_model(self) -> str:
        return f"projects/{self.project}/locations/{self.region}/models/{self.model_name}"

    def upload_request(
        self, artifact_uri: str, metadata: VersionMetadata, aliases: Sequence[str], first_version: bool = False
    ):
        """The exact UploadModelRequest a push sends: a new version of the parent model, or its first version."""
        from google.cloud import aiplatform_v1

        labels = {
            "pipeline": _label(metadata.pipeline_name or ""),
            "git": _label(metadata.git_revision or "")[:12],
            "top1-permille": str(round(1000 * metadata.blessing.top1)),
            "encoder-version": metadata.encoder_version or "",  # a classifier's: the encoder it came from
        }
        # What DataFingerprint compares on the next run (a 128-bit prefix fits a label).
        for stage, key in metadata.stage_keys.items():
            labels[STAGE_KEY_LABEL.format(stage)] = (key or "")[: stage_keys.KEY_DIGITS]
        return aiplatform_v1.UploadModelRequest(
            parent=f"projects/{self.project}/locations/{self.region}",
            # The API takes parent_model for a new version and model_id for the first one, never both.
            parent_model="" if first_version else self.parent_model,
            model_id=self.model_name if first_version else "",
            model=aiplatform_v1.Model(
                display_name=self.model_name,
                description=json.dumps({"metrics": metadata.metrics, "data_fingerprint": metadata.data_fingerprint})[
                    :2000
                ],
                artifact_uri=artifact_uri,
                version_aliases=list(aliases),
                version_description=f"pipeline run {metadata.pipeline_run_id}",
                container_spec=aiplatform_v1.ModelContainerSpec(image_uri=self.serving_image),
                labels={key: value for key, value in labels.items() if value},
            ),
        )

    def push(self, saved_model_dir: str, metadata: VersionMetadata, make_champion: bool) -> str:
        if not saved_model_dir.startswith("gs://"):
            raise RegistryError(
                f"Vertex AI needs the model on gs://, not {saved_model_dir}: run the pipeline on Vertex"
            )
        kept = self.keep(saved_model_dir)
        try:
            response = self._upload(kept, metadata, make_champion)
        except Exception:  # nothing registered it: no copy is left behind under model_root
            from shared import uri_io

            uri_io.remove_tree(kept)
            raise
        if self.endpoint and make_champion:
            self._serve(response.model, response.model_version_id)
        return response.model_version_id

    def _upload(self, artifact_uri: str, metadata: VersionMetadata, make_champion: bool):
        """Uploads ``artifact_uri`` as a new version (the first creates the model); returns the operation's result."""
        from google.api_core import exceptions

        client = self._client()
        try:
            model_name = client.get_model(name=self.parent_model).name  # as Vertex names it: the project number
        except exceptions.NotFound:
            model_name = None
        if make_champion and model_name:
            champion = self._version_holding(client, CHAMPION_ALIAS)
            if champion:  # a registry whose champion was never set (or was removed) has none to keep
                client.merge_version_aliases(request=self.keep_previous_champion_request(champion))
        request = self.upload_request(artifact_uri, metadata, version_aliases(make_champion), not model_name)
        return client.upload_model(request=request).result()  # an operation: the version exists once it is done

    def keep(self, saved_model_dir: str) -> str:
        """Copies the SavedModel under ``model_root`` (which no lifecycle rule deletes); returns the copy's URI.

        The pipeline's own artifacts expire with their run, and a champion can outlive it by months.
        """
        if not self.model_root:
            raise RegistryError("registry.model_root is unset: a Vertex AI push needs a gs:// folder to keep models")
        from shared import uri_io  # TensorFlow: loaded only to push

        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        kept = uri_io.join(self.model_root, self.model_name, f"{stamp}-{uuid.uuid4().hex[:8]}")
        uri_io.copy_tree(saved_model_dir, kept)
        return kept

    def _serve(self, model_name: str, version: str) -> None:
        """Deploys ``version`` with the traffic of the versions it replaces, then undeploys those."""
        from google.cloud import aiplatform_v1

        endpoints = self._connect(aiplatform_v1.EndpointServiceClient)
        request = self.deploy_request(version, endpoints.get_endpoint(name=self.endpoint), model_name)
        if not request.traffic_split["0"]:
            logging.warning(
                "%s takes no traffic on %s: other models hold all of it; set the split with "
                "`gcloud ai endpoints update --traffic-split`",
                request.deployed_model.model,
                self.endpoint,
            )
        endpoints.deploy_model(request=request).result()
        # The replaced versions have no traffic now; undeployed, they stop being billed.
        for undeploy in self.undeploy_requests(endpoints.get_endpoint(name=self.endpoint), model_name, version):
            endpoints.undeploy_model(request=undeploy).result()

    def undeploy_requests(self, endpoint, model_name: str, keep_version: str) -> list:
        """UndeployModelRequests for every version of this model on ``endpoint`` (an aiplatform_v1.Endpoint)
        except ``keep_version``; other models on the endpoint are left alone.

        ``model_name`` is the model's resource name as Vertex AI returns it (``projects/<number>/...``):
        a deployed model names its model that way, whatever name it was deployed with.
        """
        from google.cloud import aiplatform_v1

        return [
            aiplatform_v1.UndeployModelRequest(endpoint=self.endpoint, deployed_model_id=deployed.id)
            for deployed in endpoint.deployed_models
            if deployed.model.split("@")[0] == model_name and deployed.model_version_id != str(keep_version)
        ]

    def keep_previous_champion_request(self, champion_version: str):
        """Gives the current champion the ``previous-champion`` alias, before a new champion takes ``champion``.

        MergeVersionAliases takes "the name of the model version ... with a version ID explicitly
        included" (its aiplatform_v1 docstring), so the champion's version is read first.
        """
        from google.cloud import aiplatform_v1

        return aiplatform_v1.MergeVersionAliasesRequest(
            name=f"{self.parent_model}@{champion_version}", version_aliases=[PREVIOUS_CHAMPION_ALIAS]
        )

    def requests(self, action: str, version: Optional[str], resolve: Callable[[str], Optional[str]]) -> list:
        """The requests of a registry command, in the order they are sent: list, show, promote or rollback.

        ``resolve(alias)``: the version ID that holds an alias, or None (a GetModel for a real command).
        """
        from google.cloud import aiplatform_v1

        if action == "list":
            return [aiplatform_v1.ListModelVersionsRequest(name=self.parent_model, page_size=100)]
        if action == "show":
            return [aiplatform_v1.GetModelRequest(name=f"{self.parent_model}@{version or CHAMPION_ALIAS}")]
        if action == "promote":
            champion = resolve(CHAMPION_ALIAS)
            keep = [self.keep_previous_champion_request(champion)] if champion and champion != str(version) else []
            return keep + [self._merge(str(version), version_aliases(True))]
        if action == "rollback":  # the previous champion becomes the champion; history is one step deep
            previous = resolve(PREVIOUS_CHAMPION_ALIAS)
            if previous is None:
                raise RegistryError(f"model {self.parent_model} has no earlier champion to roll back to")
            return [self._merge(previous, version_aliases(True) + [f"-{PREVIOUS_CHAMPION_ALIAS}"])]
        raise ValueError(f"unknown registry action {action!r}")

    def _merge(self, version: str, aliases: List[str]):
        from google.cloud import aiplatform_v1

        return aiplatform_v1.MergeVersionAliasesRequest(name=f"{self.parent_model}@{version}", version_aliases=aliases)

    def run(self, action: str, version: Optional[str] = None) -> list:
        """Sends an action's requests; returns the models (aiplatform_v1.Model) they answered with."""
        from google.api_core import exceptions
        from google.cloud import aiplatform_v1

        client, answers = self._client(), []
        for request in self.requests(action, version, lambda alias: self._version_holding(client, alias)):
            if isinstance(request, aiplatform_v1.ListModelVersionsRequest):
                answers.extend(client.list_model_versions(request=request))
                continue
            is_get = isinstance(request, aiplatform_v1.GetModelRequest)
            send = client.get_model if is_get else client.merge_version_aliases
            try:
                answers.append(send(request=request))
            except exceptions.NotFound:
                raise RegistryError(f"{request.name} does not exist in Vertex AI Model Registry") from None
        return answers

    def _version_holding(self, client, alias: str) -> Optional[str]:
        from google.api_core import exceptions

        try:
            return client.get_model(name=f"{self.parent_model}@{alias}").version_id
        except exceptions.NotFound:
            return None

    def deploy_request(self, version: str, endpoint, model_name: str):
        """The DeployModelRequest that serves a version on the configured endpoint (an aiplatform_v1.Endpoint
        as GetEndpoint returns it; ``model_name`` as GetModel returns it, with the project number).

        The new version takes the traffic of this model's versions it replaces; other models keep theirs.
        DeployModel overwrites the endpoint's split with the one sent, "0" naming the new version, and
        the percentages must add up to 100 (``DeployModelRequest.traffic_split``).
        """
        from google.cloud import aiplatform_v1

        replaced = {d.id for d in endpoint.deployed_models if d.model.split("@")[0] == model_name}
        split = {key: share for key, share in endpoint.traffic_split.items() if key not in replaced and share}
        split["0"] = 100 - sum(split.values())
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
            traffic_split=split,
        )

    def _client(self):
        from google.cloud import aiplatform_v1

        return self._connect(aiplatform_v1.ModelServiceClient)

    def _connect(self, client_class):
        """A client of the API's regional endpoint, or of the emulator that ``VERTEX_EMULATOR_ENV`` names
        (host:port on loopback, reached on an insecure channel as other Google API emulators are)."""
        emulator = os.environ.get(VERTEX_EMULATOR_ENV)
        if emulator:
            import grpc

            return client_class(
                transport=client_class.get_transport_class("grpc")(channel=grpc.insecure_channel(emulator))
            )
        return client_class(client_options={"api_endpoint": f"{self.region}-aiplatform.googleapis.com"})

    def champion(self) -> Optional[Champion]:
        from google.api_core import exceptions

        try:
            model = self._client().get_model(name=f"{self.parent_model}@{CHAMPION_ALIAS}")
        except exceptions.NotFound:
            return None
        return Champion(
            version=model.version_id,
            top1=_top1(model),
            stage_keys={stage: model.labels.get(STAGE_KEY_LABEL.format(stage)) for stage in stage_keys.STAGES},
        )

    def list_versions(self) -> List[RegistryVersion]:
        return [
            RegistryVersion(
                version=model.version_id,
                top1=_top1(model),
                created=model.version_create_time.isoformat() if model.version_create_time else None,
                aliases=list(model.version_aliases),
            )
            for model in self.run("list")
        ]

    def show(self, version: Optional[str]) -> Dict[str, Any]:
        model = self.run("show", version)[0]
        return json.loads(type(model).to_json(model))

    def promote(self, version: str) -> str:
        return self.run("promote", version)[-1].version_id

    def rollback(self) -> str:
        return self.run("rollback")[-1].version_id

    def planned_requests(self, action: str, version: Optional[str]) -> List[Dict[str, Any]]:
        """Nothing is sent, so the version holding an alias, which a real command reads first, is named instead."""
        return [
            {"method": type(request).__name__.removesuffix("Request"), "request": request_json(request)}
            for request in self.requests(action, version, lambda alias: f"<version holding {alias}>")
        ]

    def describe(self) -> str:
        return f"Vertex AI Model Registry {self.parent_model}"


def version_aliases(make_champion: bool) -> List[str]:
    """A champion also takes ``default``, so that the bare model name serves it (an alias names one version,
    so this moves it); a candidate takes neither."""
    return [CHAMPION_ALIAS, DEFAULT_ALIAS] if make_champion else [CANDIDATE_ALIAS]


def _top1(model) -> Optional[float]:
    permille = model.labels.get("top1-permille")
    return int(permille) / 1000 if permille else None


def _label(value: str) -> str:
    """A Vertex label value: lowercase letters, digits, - and _, at most 63 characters."""
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in value.lower())[:63]
