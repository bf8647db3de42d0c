"""The local registry, the default: a versioned folder that implements ``Registry``.

    <root>/<model>/<version>/saved_model/   the SavedModel, read-only once pushed
    <root>/<model>/<version>/metadata.json  ``VersionMetadata`` plus model, version and time
    <root>/<model>/champion.json            the champion pointer and its history

A push copies the model into a staging folder beside the versions and renames it
to the next free version number; rename is atomic, and a version that already
exists makes the rename fail, so concurrent pushes get distinct versions and a
reader never sees a half-written one. The champion pointer is rewritten under a
file lock with an atomic replace; it moves only on a blessed push, a promote or
a rollback.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import stat
import uuid
from typing import Any, Dict, List, Optional

from components.registry.protocol import RegistryError, utc_now
from shared.records import Champion, RegistryVersion, VersionMetadata

METADATA_FILE = "metadata.json"
SAVED_MODEL_DIR = "saved_model"
CHAMPION_FILE = "champion.json"


class LocalRegistry:
    """A ``Registry`` in a folder of this machine (module docstring)."""

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

    def champion(self) -> Optional[Champion]:
        version = self.pointer()["version"]
        if version is None:
            return None
        metadata = self.metadata(version)
        return Champion(
            version=version,
            top1=(metadata.get("blessing") or {}).get("top1"),
            stage_keys=metadata.get("stage_keys") or {},
        )

    def list_versions(self) -> List[RegistryVersion]:
        champion = self.pointer()["version"]
        return [
            RegistryVersion(
                version=version,
                top1=(metadata.get("blessing") or {}).get("top1"),
                created=metadata.get("pushed_at"),
                aliases=["champion"] if version == champion else [],
            )
            for version, metadata in ((version, self.metadata(version)) for version in self.versions())
        ]

    def show(self, version: Optional[str]) -> Dict[str, Any]:
        version = version or self.pointer()["version"]
        if version is None:
            raise RegistryError(f"model {self.model_name} in {self.root} has no champion: name a version")
        return {**self.metadata(version), "saved_model": self.saved_model_path(version)}

    def planned_requests(self, action: str, version: Optional[str]) -> List[Dict[str, Any]]:
        raise RegistryError(f"--dry-run prints Vertex AI requests; this registry is the local folder {self.root}")

    # --- writing -------------------------------------------------------------------------
    def push(self, saved_model_dir: str, metadata: VersionMetadata, make_champion: bool) -> str:
        """Copies the SavedModel in as a new immutable version; returns the version."""
        os.makedirs(self.model_dir, exist_ok=True)
        staging = os.path.join(self.model_dir, f".staging-{uuid.uuid4().hex}")
        try:
            from shared import uri_io  # TensorFlow: loaded only to push, so `registry list` stays instant

            uri_io.copy_tree(saved_model_dir, os.path.join(staging, SAVED_MODEL_DIR))  # the model may be on gs://
            version = self._publish(staging, metadata.model_dump(mode="json"))
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

    def promote(self, version: str) -> str:
        self.metadata(version)  # refuses unknown versions
        self._move_champion(str(version), reason="promote")
        return str(version)

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
