"""DataFingerprint's decision: retrain unless the champion already learnt from this data with these settings."""

import shutil

from components.data_fingerprint import retrain_decision, training_digest
from components.image_folder import fingerprint

SETTINGS = {"epochs": 10, "batch_size": 64}


def champion_of(data, settings=SETTINGS):
    return {"version": "3", "data_fingerprint": fingerprint(str(data)), "training_digest": training_digest(settings)}


def test_first_run_trains(prefix_dataset):
    decision = retrain_decision(fingerprint(str(prefix_dataset)), training_digest(SETTINGS), None, skip_unchanged=True)
    assert decision == {"retrain": True, "reason": "the registry has no champion yet"}


def test_the_champions_data_and_settings_end_the_run(prefix_dataset):
    decision = retrain_decision(
        fingerprint(str(prefix_dataset)), training_digest(SETTINGS), champion_of(prefix_dataset), True
    )
    assert decision["retrain"] is False and "champion version 3" in decision["reason"]


def test_an_added_image_means_new_data(prefix_dataset, tmp_path, image_factory):
    champion = champion_of(prefix_dataset)
    grown = tmp_path / "grown"
    shutil.copytree(prefix_dataset, grown)
    image_factory(grown / "train" / "cat_99.jpg", seed=999)
    decision = retrain_decision(fingerprint(str(grown)), training_digest(SETTINGS), champion, True)
    assert decision["retrain"] is True and "data changed" in decision["reason"]


def test_new_training_settings_retrain_on_the_same_data(prefix_dataset):
    changed = {**SETTINGS, "epochs": 20}
    decision = retrain_decision(
        fingerprint(str(prefix_dataset)), training_digest(changed), champion_of(prefix_dataset), True
    )
    assert decision["retrain"] is True and "training settings changed" in decision["reason"]


def test_change_detection_can_be_turned_off(prefix_dataset):
    decision = retrain_decision(
        fingerprint(str(prefix_dataset)), training_digest(SETTINGS), champion_of(prefix_dataset), False
    )
    assert decision["retrain"] is True


def test_a_vertex_champion_label_holds_a_prefix_that_still_matches(prefix_dataset):
    champion = champion_of(prefix_dataset)
    labelled = {
        **champion,
        "data_fingerprint": champion["data_fingerprint"][:32],
        "training_digest": champion["training_digest"][:32],
    }
    assert (
        retrain_decision(fingerprint(str(prefix_dataset)), training_digest(SETTINGS), labelled, True)["retrain"]
        is False
    )
