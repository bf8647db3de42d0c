"""Blessing and pushing: only a model above the threshold and not worse than the champion is pushed."""

import json
import os

import pytest
from tfx.types import standard_artifacts

from components.registry.blesser import Blesser, decide
from components.registry.config import RegistryConfig
from components.registry.local import LocalRegistry
from components.registry.pusher import RegistryPusherExecutor
from shared import stage_keys
from shared.contract import BLESSING_FILE, PUSH_FILE
from shared.records import Champion, EvaluationMetrics

pytestmark = pytest.mark.slow(minutes=1)


def test_decide_blesses_above_threshold_without_champion():
    decision = decide(0.62, min_top1=0.5, tolerance=0.02, champion=None, label_fraction=0.1)
    assert decision.blessed and decision.champion_version is None


def test_decide_refuses_below_threshold():
    decision = decide(0.42, min_top1=0.5, tolerance=0.02, champion=None, label_fraction=0.1)
    assert not decision.blessed
    assert decision.reasons == ["top-1 0.420 is below the threshold 0.500"]


@pytest.mark.parametrize("top1, blessed", [(0.70, False), (0.73, True), (0.80, True)])
def test_decide_compares_with_the_champion_minus_tolerance(top1, blessed):
    champion = Champion(version="3", top1=0.75)
    decision = decide(top1, min_top1=0.5, tolerance=0.02, champion=champion, label_fraction=0.1)
    assert decision.blessed is blessed
    assert decision.champion_top1 == 0.75 and decision.champion_version == "3"


def _artifact(kind, uri):
    artifact = kind()
    artifact.uri = str(uri)
    os.makedirs(artifact.uri, exist_ok=True)
    return artifact


def _bless_and_push(tmp_path, top1, registry_root, min_top1=0.5):
    """Runs the real Blesser and RegistryPusher executors on a LinearEval-shaped artifact."""
    evaluation = _artifact(standard_artifacts.ModelEvaluation, tmp_path / "evaluation")
    probe = {"label_fraction": 0.1, "labels_used": 3, "top1_mean": top1, "top1_sd": 0.0, "top1_per_draw": [top1]}
    EvaluationMetrics.model_validate(
        {
            **{
                "linear": {"0.1": probe},
                "knn_top1": top1,
                "blessing_metric": {"label_fraction": 0.1, "top1_mean": top1},
            },
            **{"classes": ["cat", "dog"], "feature_dim": 8, "train_images": 30, "test_images": 10},
        }
    ).write(str(tmp_path / "evaluation" / "metrics.json"))
    model = _artifact(standard_artifacts.Model, tmp_path / "model")
    os.makedirs(os.path.join(model.uri, "Format-Serving", "variables"), exist_ok=True)
    (tmp_path / "model" / "Format-Serving" / "saved_model.pb").write_bytes(b"graph")
    examples = _artifact(standard_artifacts.Examples, tmp_path / "examples")
    examples.set_string_custom_property("input_fingerprint", "abc123")
    blessing = _artifact(standard_artifacts.ModelBlessing, tmp_path / "blessing")
    pushed = _artifact(standard_artifacts.PushedModel, tmp_path / "pushed")
    registry = RegistryConfig(root=str(registry_root), model_name="encoder").model_dump_json()

    Blesser.EXECUTOR_SPEC.executor_class().Do(
        {"evaluation": [evaluation]},
        {"blessing": [blessing]},
        {"min_top1": min_top1, "champion_tolerance": 0.02, "registry": registry},
    )
    RegistryPusherExecutor().Do(
        {"model": [model], "model_blessing": [blessing], "evaluation": [evaluation], "examples": [examples]},
        {"pushed_model": [pushed]},
        {"registry": registry, "pipeline_config": json.dumps({"name": "test", "training": {"epochs": 1}})},
    )
    return blessing, pushed, json.loads((tmp_path / "pushed" / PUSH_FILE).read_text())


def test_below_threshold_is_not_pushed(tmp_path):
    blessing, pushed, record = _bless_and_push(tmp_path, 0.3, tmp_path / "registry")
    assert os.path.exists(os.path.join(blessing.uri, "NOT_BLESSED"))
    assert blessing.get_int_custom_property("blessed") == 0
    assert record["pushed"] is False and record["version"] is None
    assert "below the threshold" in record["reasons"][0]
    assert LocalRegistry(str(tmp_path / "registry"), "encoder").versions() == []
    assert pushed.get_int_custom_property("pushed") == 0


def test_regression_against_the_champion_is_not_pushed(tmp_path):
    root = tmp_path / "registry"
    first = tmp_path / "first"
    first.mkdir()
    _, _, record = _bless_and_push(first, 0.8, root)
    assert record["pushed"] and record["version"] == "1"

    second = tmp_path / "second"
    second.mkdir()
    blessing, _, record = _bless_and_push(second, 0.7, root)
    decision = json.loads((second / "blessing" / BLESSING_FILE).read_text())
    assert decision["champion_version"] == "1" and decision["champion_top1"] == 0.8
    assert record["pushed"] is False and "worse than champion version 1" in record["reasons"][0]
    registry = LocalRegistry(str(root), "encoder")
    assert registry.versions() == ["1"] and registry.pointer()["version"] == "1"


def test_blessed_push_records_the_metadata(tmp_path):
    _, pushed, record = _bless_and_push(tmp_path, 0.6, tmp_path / "registry")
    metadata = LocalRegistry(str(tmp_path / "registry"), "encoder").metadata(record["version"])
    assert metadata["data_fingerprint"] == "abc123"
    settings = stage_keys.stage_settings({"name": "test", "training": {"epochs": 1}})
    assert metadata["stage_keys"] == stage_keys.stage_keys("abc123", settings).model_dump()
    assert metadata["metrics"]["blessing_metric"]["top1_mean"] == 0.6
    assert metadata["blessing"]["blessed"] is True
    assert metadata["config"] == {"name": "test", "training": {"epochs": 1}}
    assert len(metadata["git_revision"]) == 40  # this checkout's commit
    assert pushed.get_string_custom_property("pushed_version") == "1"
