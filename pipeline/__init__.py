"""The SimCLR TFX pipeline: its definition (``pipeline``), typed config, runners (local, Vertex AI)
and the ``simclr-tfx`` command line (``cli`` and ``commands/``)."""
