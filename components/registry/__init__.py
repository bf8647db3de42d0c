"""The model registry and what lets a model in.

``blesser`` (is the model good enough?) and ``pusher`` (a blessed model becomes the champion) are the
components; ``protocol`` is the ``Registry`` every kind implements in full, ``local`` (a folder) and
``vertex`` (Vertex AI Model Registry) are the kinds, and ``config`` holds the ``registry:`` settings
and picks the kind they name."""
