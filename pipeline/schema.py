"""Curating the inferred data schema so that it can be checked in and used for later retrains.

SchemaGen infers a closed set of values for every string feature with few
distinct values; on a small dataset that includes the per-image identity
features (path, content hash), which are unique by nature. The curated schema
drops those and keeps a class domain (an unexpected class is an anomaly): the
ingested classes, set explicitly, since TFDV infers no domain for a feature with
more than 100 values (ImageNet has 1,000 classes).

It also sets StatisticsGen's options (``statistics_options``), which must name the
same per-image features so that their statistics stay bounded in memory.
"""

from typing import Sequence

import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import schema_pb2

from shared import contract

IDENTITY_FEATURES = (contract.RELATIVE_PATH, contract.SHA256)
CLASS_VALUES_KEPT = 1024  # distinct class values counted exactly: ImageNet's 1,000 plus unexpected ones


def statistics_options() -> tfdv.StatsOptions:
    """StatisticsGen's options: memory bounded whatever the number of images.

    TFDV's default top-k and unique counts keep one counter per distinct value of every string
    feature, all at once (on the DirectRunner, in memory): every image's bytes, path and hash. Here
    top-k and unique counts come from sketches (Misra-Gries of 1,024 counters, KMV), which are exact
    up to 1,024 distinct values, so the class domain check still sees every class; the image bytes
    (an image domain) and the identity features (not categorical) get no top-k at all.
    """
    schema = schema_pb2.Schema()
    schema.feature.add(name=contract.IMAGE_BYTES, type=schema_pb2.BYTES).image_domain.SetInParent()
    for name in IDENTITY_FEATURES:
        feature = schema.feature.add(name=name, type=schema_pb2.BYTES)
        feature.string_domain.is_categorical = schema_pb2.StringDomain.CATEGORICAL_NO
    return tfdv.StatsOptions(
        schema=schema, use_sketch_based_topk_uniques=True, num_rank_histogram_buckets=CLASS_VALUES_KEPT
    )


def curate(schema, classes: Sequence[str]):
    """A copy of the schema without value domains on the identity features, whose class feature's
    domain is exactly ``classes``."""
    curated = type(schema)()
    curated.CopyFrom(schema)
    for feature in curated.feature:
        if feature.name in IDENTITY_FEATURES:
            feature.ClearField("domain_info")
        if feature.name == contract.LABEL:
            feature.ClearField("domain_info")
            feature.domain = contract.LABEL
    referenced = {feature.domain for feature in curated.feature if feature.WhichOneof("domain_info") == "domain"}
    kept = [domain for domain in curated.string_domain if domain.name in referenced]
    del curated.string_domain[:]
    curated.string_domain.extend(domain for domain in kept if domain.name != contract.LABEL)
    curated.string_domain.add(name=contract.LABEL, value=list(classes))
    return curated


def export_curated(inferred_path: str, classes: Sequence[str], destination: str) -> None:
    tfdv.write_schema_text(curate(tfdv.load_schema_text(inferred_path), classes), destination)
