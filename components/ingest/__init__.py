"""Ingestion: an image folder (local or ``gs://``) becomes validated TFRecords.

``data_fingerprint`` (the never-cached first step: what the data is now, and the champion),
``image_example_gen`` (the component) with its pure logic ``image_folder`` (which files, which split
and label) and ``image_decoding`` (one file to one ``tf.train.Example``, or a reason), and
``anomaly_gate`` (stops a run on TFDV anomalies)."""
