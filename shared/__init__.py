"""What every stage shares, below all of them: the names (``contract``), the typed records stages
hand each other (``records``), the stage keys that decide a retrain (``stage_keys``), and reading and
writing artifacts at a path or ``gs://`` URI (``uri_io``, ``plots``). Imports nothing of the project."""
