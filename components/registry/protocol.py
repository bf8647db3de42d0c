"""What every model registry does, whichever it is: the ``Registry`` protocol that the local folder
(``local.py``) and Vertex AI Model Registry (``vertex.py``) both implement in full, so that no caller
branches on the kind. Their answers are the typed records of ``shared/records.py``.
"""

from __future__ import annotations

import datetime
from typing import Any, Dict, List, Optional, Protocol

from components.errors import DataError
from shared.records import Champion, RegistryVersion, VersionMetadata

CHAMPION_ALIAS = "champion"
CANDIDATE_ALIAS = "candidate"
DEFAULT_ALIAS = "default"  # Vertex AI: what a bare model name resolves to
PREVIOUS_CHAMPION_ALIAS = "previous-champion"  # Vertex AI: what rollback restores


class RegistryError(DataError):
    """A registry operation that the user asked for cannot be done (unknown version, nothing to roll back)."""


def utc_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


class Registry(Protocol):
    """A versioned store of blessed models with one champion."""

    model_name: str

    def describe(self) -> str:
        """One line naming the registry and its model, e.g. ``local registry /srv/registry/simclr-encoder``."""

    def list_versions(self) -> List[RegistryVersion]:
        """Every version, oldest first."""

    def show(self, version: Optional[str]) -> Dict[str, Any]:
        """A version's full record as JSON-ready data (the champion's when ``version`` is None)."""

    def champion(self) -> Optional[Champion]:
        """The champion, or None before the first blessed push."""

    def push(self, saved_model_dir: str, metadata: VersionMetadata, make_champion: bool) -> str:
        """Adds the SavedModel as a new version with its metadata; returns the version."""

    def promote(self, version: str) -> str:
        """Makes ``version`` the champion; returns it."""

    def rollback(self) -> str:
        """Makes the champion before the current one the champion again; returns its version."""

    def planned_requests(self, action: str, version: Optional[str]) -> List[Dict[str, Any]]:
        """``registry ... --dry-run``: the API requests an action would send, unsent, as JSON-ready data."""
