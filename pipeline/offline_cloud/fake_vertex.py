"""A Vertex AI API on loopback: the parts of ModelService and EndpointService the pipeline calls.

The SDK's own clients reach it over gRPC (``aiplatform_v1.ModelServiceClient`` and
``EndpointServiceClient`` on an insecure channel, ``components.registry.vertex.VERTEX_EMULATOR_ENV``),
and wait on its long-running operations with the SDK's own operation futures. It keeps its state
in a JSON file, so that rehearsals run one after another, like the runs of a schedule, find the
registry and the endpoint as the run before left them.

It holds to the API's documented contract, not to what this project's code expects. Each rule
names its source: the ``aiplatform_v1`` message docstrings (``google/cloud/aiplatform_v1/types``)
or the Model Registry documentation.

* R1 Resource names come back with the project number, whatever the request named the project by
  (requests may use either). google-cloud-aiplatform's ``base.VertexAiResourceNoun._project_tuple``
  reads the project of a returned resource name as the project number.
* R2 ``MergeVersionAliasesRequest.name`` is "the name of the model version to merge aliases, with
  a version ID explicitly included" (its docstring): a name ``@<alias>`` is refused.
* R3 An alias names at most one version of a model: giving it to a version takes it from any
  other. ``Model.version_aliases``: a version "can be referenced via alias (i.e.
  projects/{project}/locations/{location}/models/{model_id}@{version_alias})", a name that must
  denote a single version; ``MergeVersionAliasesRequest`` says no more than that.
* R4 ``default``: "A default version alias will be created for the first version of the model,
  and there must be exactly one default version alias for a model" (``Model.version_aliases``):
  the first version gets it, another version takes it only by being given it, and it cannot be
  removed (``-default``).
* R5 Aliases match ``[a-z][a-zA-Z0-9-]{0,126}[a-z0-9]``; ``-alias`` removes one
  (``MergeVersionAliasesRequest.version_aliases``).
* R6 UploadModel: ``parent_model`` only "when uploading a new version" (it must exist), and
  ``model_id`` "will become the final component of the model resource name" (``UploadModelRequest``);
  a model ID that exists already is refused (ALREADY_EXISTS: this fake's reading, not a quoted rule).
* R7 UploadModel, DeployModel and UndeployModel return long-running operations; their effect is
  there once the operation is done, and a client sees it done only by asking (GetOperation).
* R8 DeployModel's ``traffic_split``: "To refer to the ID of the just being deployed Model, a
  "0" should be used ... The traffic percentage values must add up to 100. If this field is
  non-empty, then the Endpoint's traffic_split will be overwritten with it" (``DeployModelRequest``).
  A DeployedModel names its model by resource name and gives ``model_version_id``
  (``DeployedModel.model``, ``model_version_id``).
* R9 UndeployModel: "A DeployedModel will be successfully undeployed only if it doesn't have any
  traffic assigned to it when this method executes, or if this field unassigns any traffic to
  it" (``UndeployModelRequest.traffic_split``).
* R10 GetModel takes ``models/<id>`` (the default version), ``@<version id>`` or ``@<alias>``
  (``Model.version_aliases``, ``DeployedModel.model``); anything else is NOT_FOUND.
* R11 A project the caller cannot see answers PERMISSION_DENIED, "regardless of whether or not it
  exists" (AIP-211, "Authorization checks"); a location of the project that has none of it is NOT_FOUND.
* R12 A call to a disabled API answers PERMISSION_DENIED with reason ``SERVICE_DISABLED``:
  "<API> has not been used in project <number> before or it is disabled" (google.rpc.ErrorInfo,
  the reason Google APIs give for a disabled service). ``FakeVertex(..., api_enabled=False)``.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import threading
from concurrent import futures
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import grpc

_ALIAS = re.compile(r"^[a-z][a-zA-Z0-9-]{0,126}[a-z0-9]$")  # R5
DEFAULT_ALIAS = "default"


class ApiError(Exception):
    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code = code


class VertexState:
    """The fake's resources, kept in ``path`` (JSON) after every change, read from it at start."""

    def __init__(self, path: str, project: str, project_number: str, region: str, endpoints: Sequence[str] = ()):
        self.path, self.project, self.number, self.region = path, project, project_number, region
        self.lock = threading.RLock()
        self.data: Dict[str, Any] = {"models": {}, "endpoints": {}, "operations": {}, "calls": []}
        if os.path.exists(path):
            with open(path) as handle:
                self.data = json.load(handle)
        for endpoint in endpoints:  # the endpoints the project created beforehand (infra/)
            self.data["endpoints"].setdefault(
                self._id(endpoint, "endpoints"), {"deployed": [], "traffic": {}, "next": 1}
            )
        self.save()

    def save(self) -> None:
        temporary = f"{self.path}.tmp"
        with open(temporary, "w") as handle:
            json.dump(self.data, handle, indent=1)
        os.replace(temporary, self.path)

    @property
    def location(self) -> str:
        return f"projects/{self.number}/locations/{self.region}"  # R1

    def _id(self, name: str, collection: str) -> str:
        """The resource ID in ``projects/<id or number>/locations/<region>/<collection>/<id>``; else NOT_FOUND."""
        match = re.fullmatch(rf"projects/([^/]+)/locations/([^/]+)/{collection}/([^/@]+)", name)
        if match:
            self.check_location(f"projects/{match.group(1)}/locations/{match.group(2)}")
        if not match:
            raise ApiError(grpc.StatusCode.NOT_FOUND, f"{name} not found")
        return match.group(3)

    def check_location(self, parent: str) -> None:
        project = parent.split("/")[1] if parent.startswith("projects/") else ""
        if project not in (self.project, self.number):  # R11
            raise ApiError(
                grpc.StatusCode.PERMISSION_DENIED,
                f"Permission 'aiplatform.models.get' denied on resource '//aiplatform.googleapis.com/{parent}' "
                "(or it may not exist).",
            )
        if parent not in (f"projects/{self.project}/locations/{self.region}", self.location):
            raise ApiError(grpc.StatusCode.NOT_FOUND, f"location {parent} not found")


class ModelRegistryRules:
    """ModelService on a VertexState: models, versions and aliases."""

    def __init__(self, state: VertexState):
        self.state = state

    def model(self, model_id: str) -> Dict[str, Any]:
        models = self.state.data["models"]
        if model_id not in models:
            raise ApiError(grpc.StatusCode.NOT_FOUND, f"model {model_id} not found")
        return models[model_id]

    def resolve(self, name: str) -> Tuple[str, str]:
        """(model id, version id) that a model name denotes (R10)."""
        base, _, version = name.partition("@")
        model_id = self.state._id(base, "models")
        model = self.model(model_id)
        wanted = version or DEFAULT_ALIAS
        for version_id, record in model["versions"].items():
            if wanted == version_id or wanted in record["version_aliases"]:
                return model_id, version_id
        raise ApiError(grpc.StatusCode.NOT_FOUND, f"{name} not found")

    def version_json(self, model_id: str, version_id: str) -> Dict[str, Any]:
        record = dict(self.model(model_id)["versions"][version_id])
        record.update(name=f"{self.state.location}/models/{model_id}", version_id=version_id)  # R1
        return record

    def upload(self, parent: str, parent_model: str, model_id: str, model: Dict[str, Any]) -> Dict[str, str]:
        """Checks an UploadModelRequest now; returns what its operation will do when done (``apply_upload``)."""
        self.state.check_location(parent)
        if parent_model and model_id:
            raise ApiError(grpc.StatusCode.INVALID_ARGUMENT, "parent_model and model_id are exclusive")  # R6
        if parent_model:
            model_id = self.state._id(parent_model, "models")
            self.model(model_id)  # R6: the parent model must exist
        elif model_id in self.state.data["models"]:
            raise ApiError(grpc.StatusCode.ALREADY_EXISTS, f"model {model_id} already exists")  # R6
        elif not model_id:
            model_id = str(len(self.state.data["models"]) + 1000)
        self._check_aliases(model.get("version_aliases", []), removals=False)
        return {"model_id": model_id}

    def apply_upload(self, model_id: str, model: Dict[str, Any]) -> Dict[str, str]:
        entry = self.state.data["models"].setdefault(model_id, {"versions": {}, "next": 1})
        version_id = str(entry["next"])
        entry["next"] += 1
        aliases = list(dict.fromkeys(model.get("version_aliases", [])))
        if not entry["versions"] and DEFAULT_ALIAS not in aliases:
            aliases.append(DEFAULT_ALIAS)  # R4: the first version gets the default alias
        for other in entry["versions"].values():  # R3
            other["version_aliases"] = [a for a in other["version_aliases"] if a not in aliases]
        now = datetime.datetime.now(datetime.timezone.utc).isoformat().replace("+00:00", "Z")
        entry["versions"][version_id] = {**model, "version_aliases": aliases, "version_create_time": now}
        return {"model": f"{self.state.location}/models/{model_id}", "model_version_id": version_id}

    def merge_aliases(self, name: str, aliases: List[str]) -> Dict[str, Any]:
        base, _, version = name.partition("@")
        model_id = self.state._id(base, "models")
        model = self.model(model_id)
        if not version or version not in model["versions"]:  # R2: an explicit version ID
            raise ApiError(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"MergeVersionAliases needs the model version's name with its version ID, not {name}",
            )
        self._check_aliases(aliases, removals=True)
        added = [a for a in aliases if not a.startswith("-")]
        removed = {a[1:] for a in aliases if a.startswith("-")}
        if DEFAULT_ALIAS in removed:  # R4
            raise ApiError(grpc.StatusCode.INVALID_ARGUMENT, "the default alias cannot be removed")
        record = model["versions"][version]
        for other_id, other in model["versions"].items():  # R3
            if other_id != version:
                other["version_aliases"] = [a for a in other["version_aliases"] if a not in added]
        kept = [a for a in record["version_aliases"] if a not in removed]
        record["version_aliases"] = list(dict.fromkeys(kept + added))
        return self.version_json(model_id, version)

    @staticmethod
    def _check_aliases(aliases: List[str], removals: bool) -> None:
        for alias in aliases:
            bare = alias[1:] if removals and alias.startswith("-") else alias
            if not _ALIAS.match(bare) or bare.isdigit():  # R5
                raise ApiError(grpc.StatusCode.INVALID_ARGUMENT, f"invalid version alias {alias!r}")

    def versions(self, name: str) -> List[Dict[str, Any]]:
        model_id = self.state._id(name, "models")
        return [self.version_json(model_id, v) for v in sorted(self.model(model_id)["versions"], key=int)]


class EndpointRules:
    """EndpointService on a VertexState: deployed models and the traffic split."""

    def __init__(self, state: VertexState, models: ModelRegistryRules):
        self.state, self.models = state, models

    def endpoint(self, name: str) -> Tuple[str, Dict[str, Any]]:
        endpoint_id = self.state._id(name, "endpoints")
        if endpoint_id not in self.state.data["endpoints"]:
            raise ApiError(grpc.StatusCode.NOT_FOUND, f"endpoint {name} not found")
        return endpoint_id, self.state.data["endpoints"][endpoint_id]

    def endpoint_json(self, name: str) -> Dict[str, Any]:
        endpoint_id, endpoint = self.endpoint(name)
        return {
            "name": f"{self.state.location}/endpoints/{endpoint_id}",  # R1
            "deployed_models": endpoint["deployed"],
            "traffic_split": endpoint["traffic"],
        }

    def check_deploy(self, name: str, deployed_model: Dict[str, Any], traffic: Dict[str, int]) -> None:
        _, endpoint = self.endpoint(name)
        self.models.resolve(deployed_model["model"])
        known = {d["id"] for d in endpoint["deployed"]} | {"0"}
        if traffic and (sum(traffic.values()) != 100 or not set(traffic) <= known):  # R8
            raise ApiError(
                grpc.StatusCode.INVALID_ARGUMENT,
                f'traffic_split {traffic} must add up to 100 over deployed models ("0": the new one)',
            )

    def apply_deploy(self, name: str, deployed_model: Dict[str, Any], traffic: Dict[str, int]) -> Dict[str, Any]:
        _, endpoint = self.endpoint(name)
        model_id, version_id = self.models.resolve(deployed_model["model"])
        deployed_id = str(endpoint["next"])
        endpoint["next"] += 1
        deployed = {
            **deployed_model,
            "id": deployed_id,
            "model": f"{self.state.location}/models/{model_id}",  # R1, R8
            "model_version_id": version_id,
        }
        endpoint["deployed"].append(deployed)
        if traffic:  # R8: overwritten, "0" being the new one
            endpoint["traffic"] = {(deployed_id if k == "0" else k): v for k, v in traffic.items()}
        return {"deployed_model": deployed}

    def check_undeploy(self, name: str, deployed_id: str, traffic: Dict[str, int]) -> None:
        _, endpoint = self.endpoint(name)
        if deployed_id not in {d["id"] for d in endpoint["deployed"]}:
            raise ApiError(grpc.StatusCode.NOT_FOUND, f"deployed model {deployed_id} not on {name}")
        split = traffic or endpoint["traffic"]
        if split.get(deployed_id, 0) > 0:  # R9
            raise ApiError(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"deployed model {deployed_id} still has {split[deployed_id]} % of the traffic",
            )

    def apply_undeploy(self, name: str, deployed_id: str, traffic: Dict[str, int]) -> Dict[str, Any]:
        _, endpoint = self.endpoint(name)
        endpoint["deployed"] = [d for d in endpoint["deployed"] if d["id"] != deployed_id]
        split = traffic or endpoint["traffic"]
        endpoint["traffic"] = {k: v for k, v in split.items() if k != deployed_id} if endpoint["deployed"] else {}
        return {}


def _as_dict(message) -> Dict[str, Any]:
    return json.loads(type(message).to_json(message, preserving_proto_field_name=True, use_integers_for_enums=False))


def _message(message_type, value: Dict[str, Any]):
    return message_type.from_json(json.dumps(value), ignore_unknown_fields=False)


class FakeVertexService:
    """The gRPC methods: each turns its request into a rule call on the state, under one lock, and saves."""

    def __init__(self, state: VertexState, api_enabled: bool = True):
        self.state, self.api_enabled = state, api_enabled
        self.models = ModelRegistryRules(state)
        self.endpoints = EndpointRules(state, self.models)

    def handlers(self) -> List[grpc.GenericRpcHandler]:
        from google.cloud import aiplatform_v1 as v1
        from google.longrunning import operations_pb2

        def unary(request_type, response_serializer, method):
            return grpc.unary_unary_rpc_method_handler(
                lambda request, context: self._call(method, request, context),
                request_deserializer=request_type.deserialize
                if hasattr(request_type, "deserialize")
                else request_type.FromString,
                response_serializer=response_serializer,
            )

        operation = operations_pb2.Operation.SerializeToString
        model_service = {
            "GetModel": unary(v1.GetModelRequest, v1.Model.serialize, self.get_model),
            "ListModelVersions": unary(
                v1.ListModelVersionsRequest, v1.ListModelVersionsResponse.serialize, self.list_model_versions
            ),
            "UploadModel": unary(v1.UploadModelRequest, operation, self.upload_model),
            "MergeVersionAliases": unary(v1.MergeVersionAliasesRequest, v1.Model.serialize, self.merge_version_aliases),
        }
        endpoint_service = {
            "GetEndpoint": unary(v1.GetEndpointRequest, v1.Endpoint.serialize, self.get_endpoint),
            "DeployModel": unary(v1.DeployModelRequest, operation, self.deploy_model),
            "UndeployModel": unary(v1.UndeployModelRequest, operation, self.undeploy_model),
        }
        operations = {"GetOperation": unary(operations_pb2.GetOperationRequest, operation, self.get_operation)}
        return [
            grpc.method_handlers_generic_handler("google.cloud.aiplatform.v1.ModelService", model_service),
            grpc.method_handlers_generic_handler("google.cloud.aiplatform.v1.EndpointService", endpoint_service),
            grpc.method_handlers_generic_handler("google.longrunning.Operations", operations),
        ]

    def _call(self, method: Callable, request, context):
        with self.state.lock:
            name = method.__name__
            logged = _as_dict(request) if hasattr(type(request), "to_json") else {"name": request.name}
            self.state.data["calls"].append({"method": name, "request": logged})
            try:
                if not self.api_enabled:  # R12
                    raise ApiError(
                        grpc.StatusCode.PERMISSION_DENIED,
                        f"Vertex AI API has not been used in project {self.state.number} before or it is disabled. "
                        "Enable it by visiting https://console.developers.google.com/apis/api/"
                        f"aiplatform.googleapis.com/overview?project={self.state.number} [reason: SERVICE_DISABLED]",
                    )
                return method(request)
            except ApiError as error:
                context.abort(error.code, str(error))
            finally:
                self.state.save()

    # --- ModelService ---
    def get_model(self, request):
        from google.cloud import aiplatform_v1 as v1

        return _message(v1.Model, self.models.version_json(*self.models.resolve(request.name)))

    def list_model_versions(self, request):
        from google.cloud import aiplatform_v1 as v1

        versions = [_message(v1.Model, v) for v in self.models.versions(request.name)]
        return v1.ListModelVersionsResponse(models=versions)

    def upload_model(self, request):
        model = _as_dict(request.model)
        target = self.models.upload(request.parent, request.parent_model, request.model_id, model)
        return self._operation("upload", {"model_id": target["model_id"], "model": model})

    def merge_version_aliases(self, request):
        from google.cloud import aiplatform_v1 as v1

        return _message(v1.Model, self.models.merge_aliases(request.name, list(request.version_aliases)))

    # --- EndpointService ---
    def get_endpoint(self, request):
        from google.cloud import aiplatform_v1 as v1

        return _message(v1.Endpoint, self.endpoints.endpoint_json(request.name))

    def deploy_model(self, request):
        deployed, traffic = _as_dict(request.deployed_model), dict(request.traffic_split)
        self.endpoints.check_deploy(request.endpoint, deployed, traffic)
        return self._operation("deploy", {"endpoint": request.endpoint, "deployed_model": deployed, "traffic": traffic})

    def undeploy_model(self, request):
        traffic = dict(request.traffic_split)
        self.endpoints.check_undeploy(request.endpoint, request.deployed_model_id, traffic)
        return self._operation(
            "undeploy", {"endpoint": request.endpoint, "deployed_id": request.deployed_model_id, "traffic": traffic}
        )

    # --- long-running operations (R7) ---
    def _operation(self, kind: str, arguments: Dict[str, Any]):
        from google.longrunning import operations_pb2

        operations = self.state.data["operations"]
        name = f"{self.state.location}/operations/{len(operations) + 1}"
        operations[name] = {"kind": kind, "arguments": arguments, "response": None}
        return operations_pb2.Operation(name=name, done=False)

    def get_operation(self, request):
        from google.cloud import aiplatform_v1 as v1
        from google.longrunning import operations_pb2
        from google.protobuf import any_pb2

        record = self.state.data["operations"].get(request.name)
        if record is None:
            raise ApiError(grpc.StatusCode.NOT_FOUND, f"operation {request.name} not found")
        kind, arguments = record["kind"], record["arguments"]
        if record["response"] is None:  # done now, its effect with it
            if kind == "upload":
                record["response"] = self.models.apply_upload(arguments["model_id"], arguments["model"])
            elif kind == "deploy":
                record["response"] = self.endpoints.apply_deploy(
                    arguments["endpoint"], arguments["deployed_model"], arguments["traffic"]
                )
            else:
                record["response"] = self.endpoints.apply_undeploy(
                    arguments["endpoint"], arguments["deployed_id"], arguments["traffic"]
                )
        response_type = {
            "upload": v1.UploadModelResponse,
            "deploy": v1.DeployModelResponse,
            "undeploy": v1.UndeployModelResponse,
        }[kind]
        response = any_pb2.Any()
        response.Pack(response_type.pb(_message(response_type, record["response"])))
        return operations_pb2.Operation(name=request.name, done=True, response=response)


class FakeVertex:
    """The fake API on 127.0.0.1 in a thread of this process; ``env()`` points the registry's clients at it."""

    def __init__(
        self,
        state_path: str,
        project: str,
        region: str,
        project_number: str = "123456789012",
        endpoints=(),
        api_enabled: bool = True,
    ):
        self.state = VertexState(state_path, project, project_number, region, list(endpoints))
        self.service = FakeVertexService(self.state, api_enabled)
        self.server: Optional[grpc.Server] = None
        self.port = 0

    def start(self) -> "FakeVertex":
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        self.server.add_generic_rpc_handlers(self.service.handlers())
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop(grace=None)

    def __enter__(self) -> "FakeVertex":
        return self.start()

    def __exit__(self, *_) -> None:
        self.stop()

    def env(self) -> Dict[str, str]:
        from components.registry.vertex import VERTEX_EMULATOR_ENV

        return {VERTEX_EMULATOR_ENV: f"127.0.0.1:{self.port}"}

    def calls(self) -> List[Dict[str, Any]]:
        """Every request received, in order: ``{"method": ..., "request": ...}``."""
        with self.state.lock:
            return json.loads(json.dumps(self.state.data["calls"]))

    def aliases(self, model_id: str) -> Dict[str, str]:
        """alias -> version ID of a model."""
        with self.state.lock:
            versions = self.state.data["models"].get(model_id, {}).get("versions", {})
            return {alias: v for v, record in versions.items() for alias in record["version_aliases"]}

    def deployed(self, endpoint_id: str) -> List[Dict[str, Any]]:
        with self.state.lock:
            return json.loads(json.dumps(self.state.data["endpoints"][endpoint_id]["deployed"]))
