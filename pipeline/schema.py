"""Curating the inferred data schema so that it can be checked in and used for later retrains.

SchemaGen infers a closed set of values for every string feature with few
distinct values; on a small dataset that includes the per-image identity
features (path, content hash), which are unique by nature. The curated schema
keeps the class domain (an unexpected class is an anomaly) and drops those.
"""

import tensorflow_data_validation as tfdv

from components.image_decoding import HASH_KEY, PATH_KEY

IDENTITY_FEATURES = (PATH_KEY, HASH_KEY)


def curate(schema):
    """A copy of the schema without value domains on the identity features."""
    curated = type(schema)()
    curated.CopyFrom(schema)
    for feature in curated.feature:
        if feature.name in IDENTITY_FEATURES:
            feature.ClearField("domain_info")
    referenced = {feature.domain for feature in curated.feature if feature.WhichOneof("domain_info") == "domain"}
    kept = [domain for domain in curated.string_domain if domain.name in referenced]
    del curated.string_domain[:]
    curated.string_domain.extend(kept)
    return curated


def export_curated(inferred_path: str, destination: str) -> None:
    tfdv.write_schema_text(curate(tfdv.load_schema_text(inferred_path)), destination)
