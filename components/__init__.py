"""Custom TFX components of the SimCLR pipeline, one package per concept, each component's pure logic
beside it: ``ingest/``, ``training/``, ``evaluation/``, ``registry/``. ``errors`` is the one error a
component raises for the user's data or settings; ``private_apis`` names every TFX API outside ``tfx.v1``.

``components.DataSnapshot`` is the import path of the pipeline's one custom artifact type. On
Vertex AI the TFX entrypoint finds a custom type by the title of its schema in the compiled spec,
which must read ``<module>.<Class>`` (one dot, TFX's ``_SCHEMA_TITLE_RE``), and imports that path:
so the type is named, and importable, as ``components.DataSnapshot``. It loads on first use,
so that importing a light module of this package does not load TFX.
"""


def __getattr__(name: str):
    if name == "DataSnapshot":
        from components.ingest.data_fingerprint import DataSnapshot

        return DataSnapshot
    raise AttributeError(f"module 'components' has no attribute {name!r}")
