"""The tensorflow-transform graph: stored-size images, class ids passed through, channel statistics, serving reuse."""

import glob
import json
import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft

from shared import contract

pytestmark = pytest.mark.slow(minutes=1)

STORED_SIZE = 24


@pytest.fixture(scope="module")
def transformed(smoke_pipeline):
    outputs = smoke_pipeline.run.latest_outputs("Transform")
    return smoke_pipeline.data, outputs["transform_graph"][0].uri, outputs["transformed_examples"][0].uri


def _records(examples_uri, split):
    files = glob.glob(os.path.join(examples_uri, f"Split-{split}", "*.gz"))
    return [tf.train.Example.FromString(r.numpy()) for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]


def test_images_are_stored_with_the_shorter_side_at_stored_size(transformed):
    _, _, examples_uri = transformed
    for split, count in (("train", 8), ("test", 4)):
        records = _records(examples_uri, split)
        assert len(records) == count
        for record in records:
            image = tf.io.decode_png(record.features.feature[contract.IMAGE].bytes_list.value[0])
            assert min(image.shape[:2]) == STORED_SIZE and image.shape[2] == 3


def test_channel_statistics_match_the_training_images(transformed):
    _, _, examples_uri = transformed
    records = _records(examples_uri, "train")
    pixels = [tf.io.decode_png(r.features.feature[contract.IMAGE].bytes_list.value[0]).numpy() / 255.0 for r in records]
    expected_mean = np.mean([p.mean(axis=(0, 1)) for p in pixels], axis=0)
    expected_std = np.sqrt(np.mean([(p**2).mean(axis=(0, 1)) for p in pixels], axis=0) - expected_mean**2)
    for record in records:
        np.testing.assert_allclose(
            record.features.feature[contract.CHANNEL_MEAN].float_list.value, expected_mean, rtol=1e-4
        )
        np.testing.assert_allclose(
            record.features.feature[contract.CHANNEL_STD].float_list.value, expected_std, rtol=1e-3
        )


def test_class_ids_are_ingestions_sorted_class_indices_passed_through(smoke_pipeline, transformed):
    _, _, examples_uri = transformed
    ingested = smoke_pipeline.run.latest_outputs("ImageExampleGen")["examples"][0]
    classes = json.loads(ingested.custom_properties["classes"].string_value)
    assert classes == sorted(classes) and len(classes) >= 2
    records = _records(examples_uri, "train") + _records(examples_uri, "test")
    for record in records:
        label = record.features.feature[contract.LABEL].bytes_list.value[0].decode()
        assert classes[record.features.feature[contract.LABEL_ID].int64_list.value[0]] == label
    assert {r.features.feature[contract.LABEL_ID].int64_list.value[0] for r in records} == set(range(len(classes)))


def test_serving_reuses_the_graph_on_raw_image_bytes_alone(transformed):
    root, graph_uri, examples_uri = transformed
    layer = tft.TFTransformOutput(graph_uri).transform_features_layer()
    raw = (root / "test" / "dog_1.png").read_bytes()
    served = layer({contract.IMAGE_BYTES: tf.constant([[raw]])})
    assert contract.LABEL_ID not in served
    served_image = tf.io.decode_png(served[contract.IMAGE][0]).numpy()
    assert min(served_image.shape[:2]) == STORED_SIZE
    matches = [
        r
        for r in _records(examples_uri, "test")
        if np.array_equal(
            tf.io.decode_png(r.features.feature[contract.IMAGE].bytes_list.value[0]).numpy(), served_image
        )
    ]
    assert len(matches) == 1
