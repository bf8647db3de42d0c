"""The offline cloud: what stands in for Google Cloud where none is reachable.

``fake_gcs`` (a GCS protocol server on loopback), ``fake_vertex`` (the Vertex AI Model and Endpoint
services, each rule citing the API's documented contract), ``rehearsal`` (the compiled Vertex AI
spec run task by task as Vertex runs it) and ``task_zygote`` (warm task processes for it). The
product imports this package only for ``simclr-tfx rehearse`` and ``simclr-tfx fake-gcs``."""
