"""Shared fixtures: small generated image datasets (no test needs the real dataset)."""

from trainer import runtime

runtime.configure()  # before TensorFlow loads, as the CLI does

import contextlib  # noqa: E402
import dataclasses  # noqa: E402
import fcntl  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import pathlib  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import yaml  # noqa: E402
from PIL import Image  # noqa: E402

CLASSES = ("cat", "dog", "elephant")


def pytest_collection_modifyitems(config, items):
    """The longest modules first (their ``slow(minutes=...)`` marker), so that `make test`'s workers, which
    take whole modules (pytest-xdist --dist loadfile, in this order: --no-loadscope-reorder), finish together."""

    def minutes(item) -> float:
        marker = item.get_closest_marker("slow")
        return -(marker.kwargs.get("minutes", 1) if marker else 0)

    items.sort(key=minutes)  # stable: each module keeps its order


def write_image(path: pathlib.Path, variant: int, size=(40, 30), mode="RGB", image_format=None) -> pathlib.Path:
    """A small random image; `variant` makes its content (and so its hash) unique."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(variant)
    pixels = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    image = Image.fromarray(pixels, "RGB")
    if mode != "RGB":
        image = image.convert(mode)
    image.save(path, format=image_format)
    return path


@pytest.fixture
def image_factory():
    return write_image


@pytest.fixture
def prefix_dataset(tmp_path):
    """The seed's layout: split/<class>_<n>.jpg, 4 train and 2 test images per class."""
    root = tmp_path / "prefix-data"
    variant = 0
    for split, count in (("train", 4), ("test", 2)):
        for label in CLASSES:
            for n in range(count):
                variant += 1
                write_image(root / split / f"{label}_{n}.jpg", variant)
    return root


@pytest.fixture
def write_config(tmp_path):
    """Writes a test config (fast single-process Beam) and returns its path."""

    def write(**settings) -> str:
        config = {"pipeline_name": "simclr-test", "beam_args": ["--direct_num_workers=1"], **settings}
        config["ingest"] = {"beam_args": ["--direct_num_workers=1"], **settings.get("ingest", {})}
        path = tmp_path / f"config-{len(list(tmp_path.glob('config-*.yaml')))}.yaml"
        path.write_text(yaml.safe_dump(config))
        return str(path)

    return write


@dataclasses.dataclass(frozen=True)
class SmokeRun:
    data: pathlib.Path
    run: "object"  # pipeline.local_runner.LocalRun
    summary: dict  # what `simclr-tfx run --json` printed
    registry: pathlib.Path
    run_again: "object"  # runs the same command once more (optionally into another output dir); returns its summary
    stderr: str  # what the first run printed to stderr: progress lines


SMOKE_CONFIG = """
pipeline_name: smoke-test
beam_args: [--direct_num_workers=1]
ingest: {beam_args: [--direct_num_workers=1]}
transform: {stored_size: 24}
training:
  encoder: {depth: 10, width_multiplier: 0.125, image_size: 16, eval_image_size: 20, stem: small}
  head: {widths: [16, 8]}
  batch_size: 8
  bf16: "off"  # the same float32 run on every CI machine, whatever its CPU; bf16 has tests of its own
  epochs: 2
  optimizer: {warmup_epochs: 1}
  checkpoint_every_steps: 2
  knn_every_epochs: 1
evaluation: {label_draws: 2}
blessing: {min_top1: 0.0}
supervised_baseline: {steps: 2, batch_size: 4}
finetune: {min_steps: 2, max_steps: 3, batch_size: 4, label_draws: 1, distill: {min_steps: 2, max_steps: 3}}
"""


def smoke_settings(**changes) -> dict:
    """SMOKE_CONFIG's settings with ``changes`` merged in: a dict into the section (or key) it names, all depths;
    anything else, None included, replaces it (``finetune=None``: no fine-tuning)."""

    def merge(settings: dict, updates: dict) -> dict:
        merged = dict(settings)
        for key, value in updates.items():
            both_dicts = isinstance(value, dict) and isinstance(settings.get(key), dict)
            merged[key] = merge(settings[key], value) if both_dicts else value
        return merged

    return merge(yaml.safe_load(SMOKE_CONFIG), changes)


SMOKE_UNLABELLED = ("unlabelled/a.png", "unlabelled/2024/cat_b.png", "unlabelled/2024/06/c.png")


@pytest.fixture(scope="session")
def smoke_pipeline(tmp_path_factory, worker_id):
    """The whole local pipeline, run once through the CLI on a generated prefix-layout dataset.

    Once for the whole session: the first pytest-xdist worker that needs it runs it, under a lock in the
    folder the workers share; the others wait for it and read what it left."""
    from pipeline import cli
    from pipeline.local_runner import LocalRun

    shared = tmp_path_factory.getbasetemp() if worker_id == "master" else tmp_path_factory.getbasetemp().parent
    root, output = shared / "smoke-data", shared / "smoke-run"
    registry = output / "registry"

    def run_once(into: pathlib.Path = output, registry: pathlib.Path = registry, stderr=None) -> dict:
        stdout = io.StringIO()
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr or io.StringIO()):
            code = cli.main(
                ["run", "--config", str(output / "config.yaml"), "--data", str(root), "--output", str(into)]
                + ["--registry", str(registry), "--json"]
            )
        assert code == 0
        return json.loads(stdout.getvalue().strip().splitlines()[-1])

    with open(shared / "smoke-pipeline.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = output / "first-run.json"
        if not done.exists():
            images = [(s, c, n) for s, k in (("train", 4), ("test", 2)) for c in ("cat", "dog") for n in range(k)]
            for variant, (split, label, n) in enumerate(images):
                write_image(root / split / f"{label}_{n}.png", variant=variant, size=(60 + 10 * n, 36))
            for variant, relative_path in enumerate(SMOKE_UNLABELLED, start=len(images)):
                write_image(root / relative_path, variant=variant, size=(48, 40))
            output.mkdir(parents=True, exist_ok=True)
            (output / "config.yaml").write_text(SMOKE_CONFIG)
            stderr = io.StringIO()
            summary = run_once(stderr=stderr)
            done.write_text(json.dumps({"summary": summary, "stderr": stderr.getvalue()}))
    first = json.loads(done.read_text())
    return SmokeRun(root, LocalRun(str(output), "smoke-test"), first["summary"], registry, run_once, first["stderr"])


GCS_BUCKET = "simclr-test-bucket"


@pytest.fixture(scope="session")
def fake_gcs():
    """A GCS bucket on loopback (fake-gcs-server behind the TLS proxy), for the whole session."""
    from pipeline.offline_cloud.fake_gcs import FakeGcs

    with FakeGcs([GCS_BUCKET]) as server:
        yield server


@pytest.fixture
def gcs(fake_gcs, monkeypatch):
    """The fake bucket, with this process's environment pointing Beam, google-cloud-storage and TF at it."""
    from google.cloud import storage

    for name, value in fake_gcs.env().items():
        monkeypatch.setenv(name, value)
    return storage.Client(project="offline").bucket(GCS_BUCKET)


def version_metadata(top1: float = 0.6, **fields):
    """A registry version's metadata (shared.records.VersionMetadata) as a blessed push records it."""
    from shared.records import Blessing, VersionMetadata

    blessing = Blessing(
        **{"blessed": True, "top1": top1, "min_top1": 0.5, "champion_tolerance": 0.02, "label_fraction": 0.1},
        reasons=["test"],
    )
    return VersionMetadata(**{"metrics": {}, "blessing": blessing, "config": {}, **fields})
