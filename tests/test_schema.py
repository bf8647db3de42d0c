"""The curated schema (pipeline/schema.py): identity features lose their domains, the class keeps all of its."""

import pandas as pd
import tensorflow_data_validation as tfdv

from pipeline import schema


def test_the_curated_schema_keeps_a_thousand_class_domain_that_tfdv_does_not_infer():
    classes = [f"n{index:08d}" for index in range(1000)]
    frame = pd.DataFrame({"label": classes * 2, "relative_path": [f"train/{i}.JPEG" for i in range(2000)]})
    inferred = tfdv.infer_schema(tfdv.generate_statistics_from_dataframe(frame))
    assert tfdv.get_feature(inferred, "label").WhichOneof("domain_info") is None  # over TFDV's 100 values

    curated = schema.curate(inferred, classes)

    assert list(tfdv.get_domain(curated, "label").value) == classes
    assert tfdv.get_feature(curated, "relative_path").WhichOneof("domain_info") is None
    same = tfdv.validate_statistics(tfdv.generate_statistics_from_dataframe(frame), curated)
    assert not same.anomaly_info
    unknown = pd.DataFrame({"label": ["n99999999"] + classes[:9], "relative_path": ["x.JPEG"] * 10})
    anomalies = tfdv.validate_statistics(tfdv.generate_statistics_from_dataframe(unknown), curated)
    assert "label" in anomalies.anomaly_info


def test_statistics_keep_every_class_exactly_and_no_per_image_value_counts():
    classes = [f"n{index:08d}" for index in range(1000)]
    frame = pd.DataFrame(
        {
            "label": classes * 2 + ["n99999999"],  # one unexpected class, rarer than every other
            "relative_path": [f"train/{i}.JPEG" for i in range(2001)],
            "sha256": [f"{i:064x}" for i in range(2001)],
            "image_bytes": [f"bytes of image {i}".encode() for i in range(2001)],
        }
    )

    statistics = tfdv.generate_statistics_from_dataframe(frame, stats_options=schema.statistics_options())

    label = tfdv.get_feature_stats(statistics.datasets[0], tfdv.FeaturePath(["label"])).string_stats
    assert label.unique == 1001 and len(label.rank_histogram.buckets) == 1001
    for name in ("relative_path", "sha256", "image_bytes"):
        per_image = tfdv.get_feature_stats(statistics.datasets[0], tfdv.FeaturePath([name])).string_stats
        assert not per_image.top_values and not per_image.rank_histogram.buckets, name
    curated = schema.curate(tfdv.infer_schema(statistics), classes)
    assert "label" in tfdv.validate_statistics(statistics, curated).anomaly_info
