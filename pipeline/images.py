"""Container images addressed by digest: what `make image` pushed is exactly what Vertex AI runs.

A tag such as ``:latest`` names whatever was pushed last: Vertex AI's cache would keep hitting
entries of an older image (the image is part of the cache key), a schedule would run whatever the
tag names at that moment, and Dataflow workers could pull a newer image than their launcher.
So ``make image`` records each pushed image's digest in a JSON file (``vertex.image_record``,
``{repository: repository@sha256:...}``), and ``compile`` pins ``vertex.image`` and
``vertex.trainer.image`` to those digests before it builds the spec; the Dataflow workers'
``--sdk_container_image`` and the schedule's spec come from that same pinned config.

    python -m pipeline.images record infra/images.json REPOSITORY DIGEST_REF...
"""

from __future__ import annotations

import json
import pathlib
import re
import sys
from typing import Dict, List, Optional

from pipeline.config import ConfigError, PipelineConfig

DIGEST = re.compile(r"^(?P<repository>[^@\s]+)@sha256:[0-9a-f]{64}$")


def repository(reference: str) -> str:
    """``host/path/name`` of ``host/path/name[:tag][@sha256:...]`` (a port's colon stays)."""
    name = reference.split("@", 1)[0]
    last = name.rsplit("/", 1)
    if ":" in last[-1]:
        last[-1] = last[-1].split(":", 1)[0]
    return "/".join(last)


def read_record(path: str) -> Dict[str, str]:
    record = pathlib.Path(path)
    return json.loads(record.read_text()) if record.is_file() else {}


def pinned(reference: str, record: Dict[str, str], setting: str, record_path: str) -> str:
    """``reference`` as ``repository@sha256:<digest>``; a one-line ConfigError when no digest is known."""
    if DIGEST.match(reference):
        return reference
    found = record.get(repository(reference))
    if found is None:
        raise ConfigError(
            f"setting '{setting}': {reference!r} names no digest and {record_path} records none for "
            f"{repository(reference)}: run `make image` (it pushes and records the digest) or give name@sha256:<digest>"
        )
    return found


def pin(config: PipelineConfig) -> PipelineConfig:
    """The config with ``vertex.image`` and ``vertex.trainer.image`` pinned to digests."""
    vertex = config.require_vertex()
    record = read_record(vertex.image_record)
    image = pinned(vertex.image, record, "vertex.image", vertex.image_record)
    trainer_image = vertex.trainer.image and pinned(
        vertex.trainer.image, record, "vertex.trainer.image", vertex.image_record
    )
    trainer = vertex.trainer.model_copy(update={"image": trainer_image})
    return config.model_copy(update={"vertex": vertex.model_copy(update={"image": image, "trainer": trainer})})


def record_push(path: str, pushed_repository: str, digests: List[str]) -> str:
    """Records the digest of ``pushed_repository`` among ``digests`` (``docker inspect``'s RepoDigests)."""
    match: Optional[str] = next((d for d in digests if DIGEST.match(d) and repository(d) == pushed_repository), None)
    if match is None:
        raise ConfigError(f"no digest of {pushed_repository} among {digests}: was it pushed?")
    record = read_record(path)
    record[pushed_repository] = match
    pathlib.Path(path).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    return match


def main(argv: List[str]) -> int:
    if len(argv) < 3 or argv[0] != "record":
        print("usage: python -m pipeline.images record RECORD_FILE REPOSITORY DIGEST_REF...", file=sys.stderr)
        return 2
    try:
        print(record_push(argv[1], argv[2], argv[3:]))
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
