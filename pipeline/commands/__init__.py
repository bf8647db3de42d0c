"""The ``simclr-tfx`` commands, one module per group, each with its ``add_commands(subparsers)``:

    local     ingest, run              the pipeline on this machine (LocalDagRunner)
    registry  registry list/show/promote/rollback   any registry, through its ``Registry`` protocol
    embed     embed                    a trained encoder over a folder of images
    schema    schema export            the curated data schema
    vertex    compile, submit, schedule               Vertex AI Pipelines
    offline   rehearse, fake-gcs       the offline cloud (``pipeline/offline_cloud``)

A command gathers its result and hands it to ``printing``, which alone formats output.
"""
