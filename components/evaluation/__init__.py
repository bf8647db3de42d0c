"""Evaluation of the pretrained encoder with few labels.

``embedder`` (Beam RunInference over images) writes ``embeddings``; ``linear_eval`` (the component)
reads them with ``labelled_examples`` and scores them with ``linear_probe`` (probes and kNN, pure
NumPy/scikit-learn); ``supervised_baseline`` trains without pretraining for comparison; ``settings``
holds their typed settings."""
