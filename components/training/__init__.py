"""The Trainer component, resumable across runs (``resumable_trainer``), and its Vertex AI custom-job
form (``vertex_trainer``). What a resumable training is (its key, root and markers) lives in
``trainer/resumable.py``; the training itself in ``trainer/``."""
