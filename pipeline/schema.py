"""Curating the inferred data schema so that it can be checked in and used for later retrains.

SchemaGen infers a closed set of values for every string feature with few
distinct values; on a small dataset that includes the per-image identity
features (path, content hash), which are unique by nature. The curated schema
drops those and keeps a class domain (an unexpected class is an anomaly): the
ingested classes, set explicitly, since TFDV infers no domain for a feature with
more than 100 values (ImageNet has 1,000 classes).
"""

from typing import Sequence

import tensorflow_data_validation as tfdv

from trainer import contract

IDENTITY_FEATURES = (contract.RELATIVE_PATH, contract.SHA256)


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
