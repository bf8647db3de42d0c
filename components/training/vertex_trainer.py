"""The Trainer run as a Vertex AI custom job: its executor starts the job and waits for it.

Apart from ``resumable_trainer`` because it loads the Vertex AI SDK, which only this task needs: the
other tasks import their component modules without it (``private_apis`` says why that matters).
"""

from components import private_apis
from components.private_apis import ExecutorClassSpec
from components.training.resumable_trainer import Trainer, with_input_digest


class VertexExecutor(private_apis.VertexTrainerExecutor):
    """The Vertex AI Trainer's executor: the training job receives the content digest in custom_config."""

    def Do(self, input_dict, output_dict, exec_properties):
        return super().Do(input_dict, output_dict, with_input_digest(input_dict, exec_properties))


class VertexTrainer(Trainer):
    """The same Trainer, run as a Vertex AI custom job (``custom_config`` carries the job's settings)."""

    EXECUTOR_SPEC = ExecutorClassSpec(VertexExecutor)
