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
