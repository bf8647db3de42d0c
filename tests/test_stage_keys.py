"""Each stage keyed by the data and the settings that shape it; the champion decision that the keys drive."""

import shutil

import pytest

from components.ingest.image_folder import fingerprint
from pipeline.config import load_config
from shared import stage_keys


def settings_of(config) -> dict:
    return stage_keys.stage_settings(config.model_dump(mode="json"))


def keys_of(data, config) -> stage_keys.StageKeys:
    return stage_keys.stage_keys(fingerprint(str(data)), settings_of(config))


@pytest.mark.parametrize(
    "change, first_changed",
    [
        ({"ingest": {"max_pixels": 1000}}, "ingest"),
        ({"validation": {"required_splits": ["train", "test"]}}, "ingest"),
        ({"eval_split": "val"}, "ingest"),
        ({"transform": {"stored_size": 64}}, "transform"),
        ({"training": {"epochs": 3}}, "training"),
        ({"evaluation": {"label_draws": 7}}, "evaluation"),
        ({"blessing": {"min_top1": 0.5}}, "blessing"),
    ],
)
def test_a_setting_changes_the_key_of_the_stage_it_shapes_and_of_every_later_stage(
    prefix_dataset, change, first_changed
):
    base = load_config("smoke")
    changed = base.model_copy(
        update={
            name: getattr(base, name).model_copy(update=value) if isinstance(value, dict) else value
            for name, value in change.items()
        }
    )
    before, after = keys_of(prefix_dataset, base), keys_of(prefix_dataset, changed)
    assert stage_keys.first_change(after, before.model_dump()) == first_changed
    for stage in stage_keys.STAGES:
        same = stage_keys.STAGES.index(stage) < stage_keys.STAGES.index(first_changed)
        assert (getattr(before, stage) == getattr(after, stage)) == same, stage


def test_how_a_stage_runs_is_not_part_of_its_key(prefix_dataset):
    base = load_config("smoke")
    other = base.model_copy(
        update={
            "ingest": base.ingest.model_copy(update={"beam_args": ["--direct_num_workers=2"]}),
            "output": "elsewhere",
            "beam_args": ["--x"],
        }
    )
    assert keys_of(prefix_dataset, base) == keys_of(prefix_dataset, other)


def test_the_trainer_needs_only_the_settings_up_to_the_transform_for_its_key(prefix_dataset):
    settings = settings_of(load_config("smoke"))
    through = stage_keys.settings_through("transform", settings)
    assert set(through) == {"ingest", "validation", "eval_split", "transform"}
    data = fingerprint(str(prefix_dataset))
    assert stage_keys.key_through("transform", data, through) == stage_keys.stage_keys(data, settings).transform


def champion(keys: stage_keys.StageKeys) -> dict:
    return {stage: value[: stage_keys.KEY_DIGITS] for stage, value in keys.model_dump().items()}  # as Vertex labels


def test_the_first_run_blesses(prefix_dataset):
    decision = stage_keys.decide(keys_of(prefix_dataset, load_config("smoke")), None, None, skip_unchanged=True)
    assert decision.bless and decision.reason == "the registry has no champion yet"


def test_the_champions_data_and_settings_bless_nothing(prefix_dataset):
    keys = keys_of(prefix_dataset, load_config("smoke"))
    decision = stage_keys.decide(keys, "3", champion(keys), skip_unchanged=True)
    assert not decision.bless and "champion version 3" in decision.reason and "nothing new" in decision.reason


def test_an_added_image_is_new_data(prefix_dataset, tmp_path, image_factory):
    config = load_config("smoke")
    recorded = champion(keys_of(prefix_dataset, config))
    grown = tmp_path / "grown"
    shutil.copytree(prefix_dataset, grown)
    image_factory(grown / "train" / "cat_new.png", variant=99)
    decision = stage_keys.decide(keys_of(grown, config), "3", recorded, skip_unchanged=True)
    assert decision.bless and decision.reason == "the data changed since champion version 3"


def test_new_evaluation_settings_evaluate_and_bless_again(prefix_dataset):
    config = load_config("smoke")
    recorded = champion(keys_of(prefix_dataset, config))
    changed = config.model_copy(update={"evaluation": config.evaluation.model_copy(update={"label_draws": 9})})
    decision = stage_keys.decide(keys_of(prefix_dataset, changed), "3", recorded, skip_unchanged=True)
    assert decision.bless and decision.reason == "the evaluation settings changed since champion version 3"


def test_a_champion_without_keys_and_change_detection_off_both_bless(prefix_dataset):
    keys = keys_of(prefix_dataset, load_config("smoke"))
    assert "records no stage keys" in stage_keys.decide(keys, "3", None, skip_unchanged=True).reason
    assert stage_keys.decide(keys, "3", champion(keys), skip_unchanged=False).bless
