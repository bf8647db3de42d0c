"""The registry's settings (``registry:`` in a config) and the registry they name."""

from __future__ import annotations

from typing import Literal, Optional

import pydantic
from pydantic import Field

from components.registry.local import LocalRegistry
from components.registry.protocol import Registry
from components.registry.vertex import VertexModelRegistry
from trainer.config import Section


class RegistryConfig(Section):
    """Where blessed encoders go: a local versioned folder, or Vertex AI Model Registry."""

    kind: Literal["local", "vertex"] = Field("local", description="A local folder, or Vertex AI Model Registry.")
    root: str = Field("registry", description="Local registry folder (kind: local).")
    model_name: str = Field("simclr-encoder", pattern=r"^[a-z0-9][a-z0-9_-]*$", description="The registry's model.")
    classifier_model_name: str = Field(
        "simclr-classifier",
        pattern=r"^[a-z0-9][a-z0-9_-]*$",
        description="The registry's second model: the fine-tuned classifier (when finetune is set).",
    )
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
    endpoint_machine_type: str = Field("n1-standard-4", description="kind vertex: the endpoint's serving machine.")
    model_root: Optional[str] = Field(
        None,
        description="kind vertex: gs:// folder that each pushed SavedModel is copied to and registered from; "
        "outside every lifecycle rule (infra/ outputs gs://<bucket>/models), so a long-lived champion keeps its files.",
    )

    def for_classifier(self) -> "RegistryConfig":
        """The same registry, for the classifier's model."""
        return self.model_copy(update={"model_name": self.classifier_model_name})

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
        if self.kind == "vertex" and not (self.model_root or "").startswith("gs://"):
            raise ValueError(
                f"registry kind 'vertex' needs 'model_root', a gs:// folder that keeps pushed models, "
                f"not {self.model_root!r} (terraform output vertex_yaml)"
            )
        return self


def registry_from_config(registry_config: RegistryConfig) -> Registry:
    if registry_config.kind == "vertex":
        assert registry_config.project and registry_config.region  # checked by RegistryConfig
        return VertexModelRegistry(
            registry_config.project,
            registry_config.region,
            registry_config.model_name,
            registry_config.serving_image,
            endpoint=registry_config.deploy_to_endpoint,
            endpoint_machine_type=registry_config.endpoint_machine_type,
            model_root=registry_config.model_root,
        )
    return LocalRegistry(registry_config.root, registry_config.model_name)
