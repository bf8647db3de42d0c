"""The unlabelled folder and the classifier on the smoke pipeline: unlabelled images are ingested and
pretrained on but never labelled; FineTuner scores and exports a classifier; `predict` labels a folder."""

import csv
import json
import math
import os

import pytest

from shared import contract
from shared.records import FinetuneMetrics, IngestReport

pytestmark = pytest.mark.slow(minutes=1)


def test_unlabelled_images_are_ingested_counted_and_pretrained_on_but_never_probed(smoke_pipeline):
    from conftest import SMOKE_UNLABELLED

    examples = smoke_pipeline.run.latest_outputs("ImageExampleGen")["examples"][0]
    report = IngestReport.read(os.path.join(examples.uri, contract.INGEST_REPORT_FILE))
    assert report.splits["unlabelled"].written == len(SMOKE_UNLABELLED)
    assert report.found == report.written == sum(split.written for split in report.splits.values())
    assert report.classes == ["cat", "dog"]  # unlabelled/2024/cat_b.png names no class
    train_and_unlabelled = report.splits["train"].written + len(SMOKE_UNLABELLED)
    assert f"pretraining: {train_and_unlabelled} images" in smoke_pipeline.stderr
    evaluation = smoke_pipeline.run.latest_outputs("LinearEval")["evaluation"][0]
    linear = json.load(open(os.path.join(evaluation.uri, contract.EVALUATION_METRICS_FILE)))
    assert linear["train_images"] == report.splits["train"].written  # the probes read train's labels only


def test_the_fine_tuned_and_distilled_classifiers_are_scored_on_few_labels_and_serve_class_names(smoke_pipeline):
    import numpy as np
    import tensorflow as tf
    from conftest import SMOKE_UNLABELLED

    from components.evaluation import labelled_examples

    evaluation = smoke_pipeline.run.latest_outputs("FineTuner")["evaluation"][0]
    metrics = FinetuneMetrics.read(os.path.join(evaluation.uri, contract.FINETUNE_METRICS_FILE))
    assert set(metrics.finetuned) == {"0.01", "0.1"} and metrics.classes == ["cat", "dog"]
    for result in metrics.finetuned.values():
        assert len(result.heldout_top1_per_draw) == 1 and 0.0 <= result.heldout_top1_per_draw[0] <= 1.0
        assert len(result.top1_per_draw) == 1 and 0.0 <= result.top1_mean <= 1.0 and result.steps == 3  # max_steps
    assert metrics.exported_labels == metrics.train_images and 0.0 <= metrics.exported_top1 <= 1.0
    assert set(metrics.distilled) == {"0.01", "0.1"}  # finetune.distill: a student per fine-tuned classifier
    for fraction, result in metrics.distilled.items():
        assert result.subset_digests == metrics.finetuned[fraction].subset_digests and result.steps == 3
    # The exported classifier is the student of the all-labels classifier, taught on train and unlabelled images.
    assert metrics.exported_distilled_images == metrics.train_images + len(SMOKE_UNLABELLED)

    model = smoke_pipeline.run.latest_outputs("FineTuner")["model"][0]
    examples = smoke_pipeline.run.latest_outputs("ImageExampleGen")["examples"][0]
    (test,) = labelled_examples.read_examples(labelled_examples.split_files(examples.uri, "test")).batch(100)
    served = tf.saved_model.load(os.path.join(model.uri, contract.SERVING_DIR)).signatures["serving_default"]
    outputs = {k: v.numpy() for k, v in served(image_bytes=test[contract.IMAGE_BYTES]).items()}
    probabilities = outputs[contract.PROBABILITIES_OUTPUT]
    assert probabilities.shape == (len(test[contract.SHA256]), 2)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert outputs[contract.LABEL_ID].tolist() == probabilities.argmax(axis=1).tolist()
    assert [name.decode() for name in outputs[contract.LABEL]] == [
        metrics.classes[i] for i in outputs[contract.LABEL_ID]
    ]
    np.testing.assert_allclose(outputs[contract.PROBABILITY_OUTPUT], probabilities.max(axis=1))
    accuracy = float(np.mean(outputs[contract.LABEL_ID] == test[contract.LABEL_ID].numpy()))
    assert accuracy == pytest.approx(metrics.exported_top1)  # FineTuner scored what it exported


def test_predict_labels_every_image_of_a_folder_and_gives_the_reason_for_every_other_file(
    smoke_pipeline, tmp_path, capsys
):
    import pandas as pd
    from conftest import write_image

    from pipeline import cli

    folder = tmp_path / "photos"
    write_image(folder / "a.jpg", variant=1, image_format="JPEG")
    write_image(folder / "nested" / "b.jpg", variant=2, image_format="PNG")
    (folder / "notes.txt").write_text("not an image")
    output = tmp_path / "predicted"  # the registry's classifier champion, as a user would name it
    arguments = ["predict", "--model", str(smoke_pipeline.registry), "--data", str(folder), "--output", str(output)]
    arguments.append("--json")
    assert cli.main(arguments + ["--config", "smoke"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["predicted"] == 2 and summary["not_predicted"] == 1
    assert "simclr-classifier" in summary["model"]
    with open(output / "predictions.csv") as handle:
        rows = {row["relative_path"]: row for row in csv.DictReader(handle)}
    assert set(rows) == {"a.jpg", "nested/b.jpg", "notes.txt"}
    for path in ("a.jpg", "nested/b.jpg"):
        assert rows[path]["label"] in ("cat", "dog") and 0.5 <= float(rows[path]["probability"]) <= 1.0
        assert rows[path]["reason"] == "" and len(rows[path]["sha256"]) == 64
    assert rows["notes.txt"]["label"] == "" and rows["notes.txt"]["reason"]
    frame = pd.read_parquet(output / "parquet").set_index("relative_path")
    assert sorted(frame.index) == sorted(rows)
    assert frame.loc["a.jpg", "label"] == rows["a.jpg"]["label"]
    assert math.isnan(frame.loc["notes.txt", "probability"])
    assert summary["labels"] == dict(pd.Series([rows[p]["label"] for p in ("a.jpg", "nested/b.jpg")]).value_counts())


def test_the_registry_gets_the_classifier_as_its_second_model_naming_the_encoder_it_came_from(smoke_pipeline):
    from components.registry.local import LocalRegistry

    encoder = LocalRegistry(str(smoke_pipeline.registry), "simclr-encoder")
    classifier = LocalRegistry(str(smoke_pipeline.registry), "simclr-classifier")
    assert encoder.champion().version == "1" and classifier.champion().version == "1"
    metadata = classifier.metadata("1")
    assert metadata["encoder_version"] == "1"
    assert metadata["blessing"]["top1"] == metadata["metrics"]["exported_top1"]
    assert set(metadata["metrics"]["finetuned"]) == {"0.01", "0.1"}
    served = os.path.join(classifier.saved_model_path("1"), "saved_model.pb")
    assert os.path.exists(served)
    summary = smoke_pipeline.summary["metrics"]["classifier"]
    assert summary["version"] == "1" and "simclr-classifier" in summary["registry"]
