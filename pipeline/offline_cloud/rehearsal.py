"""``simclr-tfx rehearse``: the compiled Vertex AI PipelineSpec, run offline task by task as Vertex would run it.

The spec is compiled exactly as ``simclr-tfx compile`` compiles it, then, against the fake
GCS bucket (``pipeline/offline_cloud/fake_gcs.py``), every task runs the way the Vertex AI launcher runs it:

* tasks run in dependency order (``dependentTasks``); a task whose upstream failed is not triggered;
* each task runs its executor's container ``command`` and ``args`` from the spec in a process of
  its own, with ``{{$}}`` replaced by the ExecutorInput that Vertex sends (``executor_input``):
  upstream output artifacts (URI, metadata, the type this task declares), the constant parameters,
  output URIs under the ``gs://`` pipeline root, and the ``executor_output.json`` to write;
* a task's ``triggerPolicy.condition`` (CEL) is evaluated on its input artifacts' metadata
  (``condition_holds``); a false one leaves the task SKIPPED;
* caching follows Vertex's cache key (``cache_key``);
* Dataflow arguments are swapped for DirectRunner ones (``direct_runner_args``): the only change
  made to a task's command line;
* the Trainer's Vertex AI CustomJob request is recorded, checked with the SDK's own request type,
  and its worker-pool command run as a local process in place of the API call
  (``RecordingJobServiceClient``): the Vertex AI API is the one thing that cannot exist here.
"""

from __future__ import annotations

import ast
import atexit
import dataclasses
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from typing import Any, Callable, Dict, List, Optional, Set

from pipeline.config import PipelineConfig
from pipeline.offline_cloud.task_zygote import Zygote
from shared import contract, stage_keys

SUCCEEDED, SKIPPED, FAILED, CACHED, NOT_TRIGGERED = "SUCCEEDED", "SKIPPED", "FAILED", "CACHED", "NOT_TRIGGERED"
PLACEHOLDER = "{{$}}"
VERTEX_ENTRYPOINT = "tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor"  # every TFX task's module
RECORDED_JOBS = "pipeline.offline_cloud.rehearsal"  # this module as __main__: a task with the job service recorded
# Options that only mean something to Dataflow, dropped with --runner=DataflowRunner.
_DATAFLOW_ONLY = (
    "--runner",
    "--project",
    "--region",
    "--service_account_email",
    "--machine_type",
    "--max_num_workers",
    "--disk_size_gb",
    "--experiments",
    "--sdk_container_image",
    "--network",
    "--subnetwork",
    "--temp_location",
    "--staging_location",
)
DIRECT_RUNNER_ARGS = ["--runner=DirectRunner", "--direct_num_workers=1", "--direct_running_mode=in_memory"]
VERTEX_JOBS_ENV = "SIMCLR_REHEARSAL_JOBS"  # where the recording job service keeps CustomJob requests
PREEMPT_ENV = "SIMCLR_REHEARSAL_PREEMPT_AFTER"  # kill the training worker once this text is in its log, once
FAIL_ENV = "SIMCLR_REHEARSAL_FAIL_AFTER"  # the training job fails once this text is in its log


def topological_order(tasks: Dict[str, Dict]) -> List[str]:
    """Task names with every task after the tasks it depends on (ties by name, so the order is stable)."""
    order: List[str] = []
    done: Set[str] = set()
    while len(order) < len(tasks):
        ready = sorted(
            name for name, task in tasks.items() if name not in done and set(task.get("dependentTasks", [])) <= done
        )
        if not ready:
            raise ValueError(f"the spec's tasks depend on each other in a cycle: {sorted(set(tasks) - done)}")
        order += ready
        done.update(ready)
    return order


def direct_runner_args(args: List[str]) -> List[str]:
    """A task's arguments with its Dataflow options replaced by DirectRunner ones; other args unchanged."""
    if "--runner=DataflowRunner" not in args:
        return list(args)
    kept = [arg for arg in args if arg.split("=", 1)[0] not in _DATAFLOW_ONLY]
    return kept + DIRECT_RUNNER_ARGS


_ARTIFACT_METADATA = re.compile(r"inputs\.artifacts\['([^']+)'\]\.artifacts\[0\]\.metadata\['([^']+)'\]")
_PARAMETER = re.compile(r"inputs\.parameter_values\['([^']+)'\]")
_ALLOWED_NODES = (
    ast.Expression,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.UnaryOp,
    ast.Not,
    ast.Compare,
    ast.Eq,
    ast.NotEq,
    ast.Lt,
    ast.LtE,
    ast.Gt,
    ast.GtE,
    ast.Constant,
    ast.Load,
)


def condition_holds(condition: str, artifacts: Dict[str, Dict], parameters: Dict[str, Any]) -> bool:
    """Evaluates a trigger condition, the CEL subset KFP and TFX emit (metadata and parameter comparisons,
    ``&&``, ``||``, ``!``), on the task's input artifacts (name -> RuntimeArtifact JSON) and parameters.

    Metadata numbers are doubles, as Vertex stores them: ``metadata['retrain'] == 1.0``.
    """

    def metadata(match) -> str:
        value = artifacts[match.group(1)]["artifacts"][0].get("metadata", {}).get(match.group(2))
        return repr(value)

    text = _ARTIFACT_METADATA.sub(metadata, condition)
    text = _PARAMETER.sub(lambda match: repr(parameters.get(match.group(1))), text)
    text = text.replace("&&", " and ").replace("||", " or ").replace("!=", " __NE__ ").replace("!", " not ")
    text = text.replace(" __NE__ ", " != ").replace("true", "True").replace("false", "False")
    tree = ast.parse(text.strip(), mode="eval")
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED_NODES):
            raise ValueError(f"unsupported trigger condition {condition!r}")
    return bool(eval(compile(tree, "<condition>", "eval"), {"__builtins__": {}}))  # only literals and comparisons


def cache_key(component: Dict, executor: Dict, invocation_inputs: Dict) -> str:
    """Vertex AI's cache key for a task, as KFP v2 defines it (``CacheKey`` in kfp's ``cache_key.proto``).

    Made of: the names of the input artifacts (their identity, not their content: a new upstream
    artifact is a miss even with equal bytes), the input parameters' values (``input_parameter_values``:
    as resolved for this run, so a value an upstream task produced keys the task by that value), the
    output artifact and parameter specs, and the container spec (image, command and args). Tasks
    without ``cachingOptions.enableCache`` are never served from the cache.
    ``invocation_inputs``: the ExecutorInput's ``inputs`` (``executor_input``).
    """
    values = {**invocation_inputs.get("parameters", {}), **invocation_inputs.get("parameterValues", {})}
    key = {
        "inputArtifactNames": {
            name: [a["name"] for a in value["artifacts"]]
            for name, value in invocation_inputs.get("artifacts", {}).items()
        },
        "inputParameterValues": values,
        "outputArtifactsSpec": component.get("outputDefinitions", {}).get("artifacts", {}),
        "outputParametersSpec": component.get("outputDefinitions", {}).get("parameters", {}),
        "containerSpec": {"image": executor["image"], "cmdArgs": executor["command"] + executor["args"]},
    }
    return stage_keys.digest(key)


def _artifact_name(project: str, region: str, uri: str) -> str:
    """The resource name Vertex ML Metadata gives an artifact; here derived from its URI."""
    return (
        f"projects/{project}/locations/{region}/metadataStores/default/artifacts/"
        f"{hashlib.sha256(uri.encode()).hexdigest()[:20]}"
    )


def executor_input(
    task: Dict, component: Dict, upstream: Dict[str, Dict], task_root: str, artifact_name: Callable[[str], str]
) -> Dict:
    """The ExecutorInput (kfp's ``pipeline_spec_pb2.ExecutorInput`` as JSON) for one task.

    ``upstream``: task name -> its ExecutorOutput JSON. Constant parameters go in ``parameters`` (typed
    values), as the compiled spec (schema 2.0.0) declares them as ``constantValue``s; a parameter an
    upstream task produced (``taskOutputParameter``) goes in ``parameterValues`` as that task's
    ExecutorOutput gave it, and in ``parameters`` typed, which is the map TFX's executor reads.
    """
    artifacts = {}
    definitions = component.get("inputDefinitions", {}).get("artifacts", {})
    for name, source in task.get("inputs", {}).get("artifacts", {}).items():
        producer = source["taskOutputArtifact"]
        produced = upstream[producer["producerTask"]]["artifacts"][producer["outputArtifactKey"]]["artifacts"]
        artifacts[name] = {
            "artifacts": [
                {
                    "name": artifact_name(a["uri"]),
                    "type": definitions[name]["artifactType"],
                    "uri": a["uri"],
                    "metadata": a.get("metadata", {}),
                }
                for a in produced
            ]
        }
    parameters, produced_values = {}, {}
    for name, value in task.get("inputs", {}).get("parameters", {}).items():
        if "taskOutputParameter" in value:
            source = value["taskOutputParameter"]
            value = upstream[source["producerTask"]]["parameterValues"][source["outputParameterKey"]]
            produced_values[name] = value
            # Schema 2.0.0's executors read ``parameters`` (typed values); the launcher fills both maps.
            kind = (
                "stringValue" if isinstance(value, str) else "doubleValue" if isinstance(value, float) else "intValue"
            )
            parameters[name] = {kind: value}
        else:
            parameters[name] = value["runtimeValue"]["constantValue"]
    outputs = {}
    for name, definition in component.get("outputDefinitions", {}).get("artifacts", {}).items():
        uri = f"{task_root}/{name}"
        outputs[name] = {"artifacts": [{"name": artifact_name(uri), "type": definition["artifactType"], "uri": uri}]}
    # Each output parameter the component declares, as the launcher lists them (ExecutorInput.OutputParameter);
    # an executor writes the values of those it is given into its ExecutorOutput's ``parameterValues``.
    output_parameters = {
        name: {"outputFile": f"{task_root}/parameters/{name}"}
        for name in component.get("outputDefinitions", {}).get("parameters", {})
    }
    return {
        "inputs": {"artifacts": artifacts, "parameters": parameters, "parameterValues": produced_values},
        "outputs": {
            "artifacts": outputs,
            "parameters": output_parameters,
            "outputFile": f"{task_root}/executor_output.json",
        },
    }


def _executor_modules(spec: Dict, job_starters: bool) -> List[str]:
    """The modules of the spec's executors (``--executor_class_path``): those that start Vertex AI jobs, or the
    others."""
    modules = set()
    for executor in spec["pipelineSpec"]["deploymentSpec"]["executors"].values():
        args = executor.get("container", {}).get("args", [])
        if "--executor_class_path" in args and starts_vertex_jobs(args) == job_starters:
            modules.add(args[args.index("--executor_class_path") + 1].rpartition(".")[0])
    return sorted(modules)


_ZYGOTES: Dict[tuple, Zygote] = {}  # one warm interpreter per module and imports, for the whole process


def _stop_zygotes() -> None:
    for zygote in _ZYGOTES.values():
        zygote.stop()


def _zygote(module: str, preload: List[str], env: Dict[str, str], cwd: str) -> Zygote:
    """The warm interpreter for ``module``, started on first use and shared by every rehearsal of this
    process (a schedule's runs, one after another): only imports are shared, every task forks afresh."""
    key = (module, tuple(preload))
    if key not in _ZYGOTES or not _ZYGOTES[key].alive():
        if not _ZYGOTES:
            atexit.register(_stop_zygotes)
        _ZYGOTES[key] = Zygote(module, preload, env, cwd)
    return _ZYGOTES[key]


def _python(command: List[str]) -> List[str]:
    """The container's ``python`` is this environment's interpreter."""
    return [sys.executable if command[0] in ("python", "python3") else command[0]] + command[1:]


@dataclasses.dataclass
class TaskResult:
    state: str
    seconds: float = 0.0
    outputs: Dict[str, Any] = dataclasses.field(default_factory=dict)  # the ExecutorOutput JSON
    error: Optional[str] = None
    log: Optional[str] = None


def _last_error(log_path: str) -> str:
    """The line that says why a task failed: the last error line of its log."""
    with open(log_path, errors="replace") as handle:
        lines = [line.strip() for line in handle if line.strip()]
    for line in reversed(lines):
        if re.match(r"^[A-Za-z_.]*(Error|Exception)\b", line) or line.startswith("simclr-tfx: error"):
            return line
    return lines[-1] if lines else "no output"


class Rehearsal:
    """One rehearsed PipelineJob: runs the compiled spec's tasks against the fake bucket.

    Tasks inherit this process's environment (pointed at the fake bucket) plus ``env``; their logs,
    the recorded training jobs and the cache (Vertex keeps it in ML Metadata) go in ``workdir``.
    """

    def __init__(
        self,
        config: PipelineConfig,
        spec: Dict,
        workdir: str,
        env: Dict[str, str],
        progress: Callable[[str], None] = lambda line: None,
        enable_caching: bool = True,
    ):
        self.config, self.spec, self.workdir, self.env, self.progress = config, spec, workdir, env, progress
        self.enable_caching = enable_caching
        self.run_id = f"{config.pipeline_name}-{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:6]}"
        self.vertex = config.require_vertex()
        self.job_root = f"{self.vertex.pipeline_root.rstrip('/')}/{self.run_id}"
        self.cache_file = os.path.join(workdir, "cache.json")  # Vertex keeps its cache in ML Metadata
        os.makedirs(os.path.join(workdir, "logs", self.run_id), exist_ok=True)

    def _artifact_name(self, uri: str) -> str:
        return _artifact_name(self.vertex.project, self.vertex.region, uri)

    def _launch(self, command: List[str], env: Dict[str, str], log_path: str) -> int:
        """Runs a task's command in a process of its own; returns its exit code.

        A task that runs TFX's Vertex entrypoint is forked from a warm interpreter that imported the
        entrypoint and the spec's executors once (``pipeline/offline_cloud/task_zygote.py``); the Trainer's,
        which starts a job, from one that also wraps it in the recording job service (this module's
        ``__main__``). The same command, arguments and environment, without the imports.
        """
        if command[0] == sys.executable and command[1:3] == ["-m", VERTEX_ENTRYPOINT]:
            zygote = _zygote(VERTEX_ENTRYPOINT, _executor_modules(self.spec, job_starters=False), env, self.workdir)
            return zygote.run(command[3:], env, self.workdir, log_path)
        if (
            command[0] == sys.executable
            and command[1:3] == ["-m", RECORDED_JOBS]
            and command[4:5] == [VERTEX_ENTRYPOINT]
        ):
            preload = [VERTEX_ENTRYPOINT, *_executor_modules(self.spec, job_starters=True)]
            return _zygote(RECORDED_JOBS, preload, env, self.workdir).run(command[3:], env, self.workdir, log_path)
        with open(log_path, "w") as log:
            return subprocess.run(
                command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir, stdin=subprocess.DEVNULL
            ).returncode

    def run(self) -> Dict[str, TaskResult]:
        return self._run()

    def _run(self) -> Dict[str, TaskResult]:
        pipeline_spec = self.spec["pipelineSpec"]
        tasks = pipeline_spec["root"]["dag"]["tasks"]
        cache = {}
        if os.path.exists(self.cache_file):  # the rehearsal's own working folder, always local
            with open(self.cache_file) as handle:
                cache = json.load(handle)
        results: Dict[str, TaskResult] = {}
        for name in topological_order(tasks):
            task = tasks[name]
            upstream_states = {results[d].state for d in task.get("dependentTasks", [])}
            if upstream_states & {FAILED, NOT_TRIGGERED}:
                results[name] = TaskResult(NOT_TRIGGERED)
            elif SKIPPED in upstream_states:
                results[name] = TaskResult(SKIPPED)  # its inputs were never produced
            else:
                results[name] = self._run_task(name, task, pipeline_spec, results, cache)
            result = results[name]
            outputs = ", ".join(a["uri"] for v in result.outputs.get("artifacts", {}).values() for a in v["artifacts"])
            self.progress(f"{name:<18} {result.state:<13} {result.seconds:7.1f}s  " + (result.error or outputs or ""))
        with open(self.cache_file, "w") as handle:
            json.dump(cache, handle, indent=1)
        return results

    def _run_task(
        self, name: str, task: Dict, pipeline_spec: Dict, results: Dict[str, TaskResult], cache: Dict
    ) -> TaskResult:
        component = pipeline_spec["components"][task["componentRef"]["name"]]
        executor = pipeline_spec["deploymentSpec"]["executors"][component["executorLabel"]]["container"]
        task_root = f"{self.job_root}/{name}_{uuid.uuid4().hex[:8]}"
        invocation = executor_input(
            task, component, {n: r.outputs for n, r in results.items()}, task_root, self._artifact_name
        )
        condition = task.get("triggerPolicy", {}).get("condition")
        if condition and not condition_holds(condition, invocation["inputs"]["artifacts"], {}):
            return TaskResult(SKIPPED)
        key = cache_key(component, executor, invocation["inputs"])
        cacheable = self.enable_caching and task.get("cachingOptions", {}).get("enableCache", False)
        if cacheable and key in cache:
            return TaskResult(CACHED, outputs=cache[key])
        args = [json.dumps(invocation) if arg == PLACEHOLDER else arg for arg in direct_runner_args(executor["args"])]
        command = _python(executor["command"]) + args
        env = {**os.environ, **self.env}
        if starts_vertex_jobs(args):  # the Vertex AI training job: recorded, run here
            command = [sys.executable, "-m", RECORDED_JOBS] + command[1:]
            env[VERTEX_JOBS_ENV] = os.path.join(self.workdir, "vertex_jobs", self.run_id)
        log_path = os.path.join(self.workdir, "logs", self.run_id, f"{name}.log")
        started = time.monotonic()
        code = self._launch(command, env, log_path)
        seconds = time.monotonic() - started
        if code != 0:
            return TaskResult(FAILED, seconds, error=_last_error(log_path), log=log_path)
        from shared import uri_io

        outputs = uri_io.read_json(invocation["outputs"]["outputFile"])
        for output_name, listed in invocation["outputs"]["artifacts"].items():  # Vertex keeps the names it gave
            for produced, given in zip(
                outputs.get("artifacts", {}).get(output_name, {}).get("artifacts", []), listed["artifacts"]
            ):
                produced.setdefault("name", given["name"])
                produced.setdefault("uri", given["uri"])
        if cacheable:
            cache[key] = outputs
        return TaskResult(SUCCEEDED, seconds, outputs=outputs, log=log_path)


def pushed_version(results: Dict[str, TaskResult]) -> Optional[str]:
    """The version this run pushed; None when the pusher did not execute in this run (skipped, or cached)."""
    pusher = results.get(contract.REGISTRY_PUSHER)
    if pusher is None or pusher.state != SUCCEEDED:
        return None
    metadata = pusher.outputs["artifacts"]["pushed_model"]["artifacts"][0].get("metadata", {})
    return metadata.get("pushed_version") or None


def upload_folder(folder: str, destination: str) -> int:
    """Copies a local image folder into ``gs://bucket/prefix`` (the rehearsal's data); returns the file count."""
    import google.cloud.storage as storage  # untyped: ``from google.cloud import`` would name a typed namespace

    bucket_name, _, prefix = destination[len("gs://") :].partition("/")
    bucket = storage.Client(project="offline").bucket(bucket_name)
    count = 0
    for directory, _, names in sorted(os.walk(folder)):
        for file_name in sorted(names):
            path = os.path.join(directory, file_name)
            relative = os.path.relpath(path, folder).replace(os.sep, "/")
            bucket.blob(f"{prefix.rstrip('/')}/{relative}" if prefix else relative).upload_from_filename(path)
            count += 1
    return count


def buckets_of(config: PipelineConfig) -> List[str]:
    """Every bucket the config names (data, pipeline root, Dataflow's temp location)."""
    vertex = config.require_vertex()
    uris = [config.data, vertex.pipeline_root, vertex.dataflow.temp_location]
    return sorted({uri[len("gs://") :].split("/")[0] for uri in uris if uri.startswith("gs://")})


# --- the Vertex AI training job, in the Trainer task's own process -------------------------------


def starts_vertex_jobs(args: List[str]) -> bool:
    """Whether a task's executor (``--executor_class_path``) is, or extends, the Vertex AI Trainer's executor."""
    import importlib

    from components.private_apis import VertexTrainerExecutor

    if "--executor_class_path" not in args:
        return False
    module, _, name = args[args.index("--executor_class_path") + 1].rpartition(".")
    return issubclass(getattr(importlib.import_module(module), name), VertexTrainerExecutor)


class RecordingJobServiceClient:
    """Stands in for ``aiplatform.gapic.JobServiceClient`` inside the Trainer task.

    ``create_custom_job`` builds the SDK's own ``CreateCustomJobRequest`` from what TFX sends (an
    unknown or mistyped field fails there, as the real API would refuse it), records it as JSON,
    then runs worker pool 0's container command as a local process with the environment Vertex
    sets. A worker that dies of a signal is started again when the job spec asks for it
    (``scheduling.restart_job_on_worker_restart``), as Vertex restarts a preempted worker;
    otherwise the job FAILS. ``FAIL_ENV`` makes the job fail outright once its text is logged.
    """

    def __init__(self, client_options=None, **_) -> None:
        self.api_endpoint = (client_options or {}).get("api_endpoint")
        self.jobs: Dict[str, Any] = {}

    def create_custom_job(self, parent, custom_job, **_):
        from google.cloud import aiplatform_v1

        request = aiplatform_v1.CreateCustomJobRequest(parent=parent, custom_job=custom_job)
        folder = os.environ[VERTEX_JOBS_ENV]
        os.makedirs(folder, exist_ok=True)
        number = len(os.listdir(folder)) + 1
        with open(os.path.join(folder, f"custom_job_{number}.json"), "w") as handle:
            json.dump(
                {
                    "api_endpoint": self.api_endpoint,
                    "request": json.loads(aiplatform_v1.CreateCustomJobRequest.to_json(request)),
                },
                handle,
                indent=2,
            )
        job = aiplatform_v1.CustomJob(request.custom_job)
        job.name = f"{parent}/customJobs/{number}"
        job.state = self._run(request.custom_job)
        self.jobs[job.name] = job
        return job

    def get_custom_job(self, name, **_):
        return self.jobs[name]

    @staticmethod
    def _run(job) -> int:
        from google.cloud import aiplatform_v1

        pool = job.job_spec.worker_pool_specs[0]
        command = _python(list(pool.container_spec.command) + list(pool.container_spec.args))
        env = {**os.environ, "CLOUD_ML_JOB_ID": job.display_name}
        base = job.job_spec.base_output_directory.output_uri_prefix
        if base:  # what Vertex sets when the job has a base output directory
            env.update(
                AIP_MODEL_DIR=f"{base}/model",
                AIP_CHECKPOINT_DIR=f"{base}/checkpoints",
                AIP_TENSORBOARD_LOG_DIR=f"{base}/logs",
            )
        preempt_after, fail_after = os.environ.get(PREEMPT_ENV), os.environ.get(FAIL_ENV)
        restarts = 0
        while True:
            worker = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            assert worker.stdout is not None  # stdout=PIPE
            for line in worker.stdout:
                sys.stdout.write(line)
                sys.stdout.flush()
                if preempt_after and preempt_after in line:
                    print(
                        f"rehearsal: preempting the training worker (pid {worker.pid}) after {preempt_after!r}",
                        flush=True,
                    )
                    worker.send_signal(signal.SIGKILL)
                    preempt_after = None  # once
                elif fail_after and fail_after in line:
                    print(
                        f"rehearsal: the training job fails (worker pid {worker.pid} killed) after {fail_after!r}",
                        flush=True,
                    )
                    worker.send_signal(signal.SIGKILL)
                    worker.wait()
                    return aiplatform_v1.JobState.JOB_STATE_FAILED
            code = worker.wait()
            if code < 0 and job.job_spec.scheduling.restart_job_on_worker_restart and restarts < 3:
                restarts += 1
                print(
                    f"rehearsal: worker ended by signal {-code}; restarting it (restart_job_on_worker_restart)",
                    flush=True,
                )
                continue
            return aiplatform_v1.JobState.JOB_STATE_SUCCEEDED if code == 0 else aiplatform_v1.JobState.JOB_STATE_FAILED


def _run_module_with_recorded_jobs(argv: List[str]) -> None:
    """``python -m pipeline.offline_cloud.rehearsal -m MODULE ARGS...``: runs MODULE as ``python -m`` would, with the
    Vertex AI job service replaced by ``RecordingJobServiceClient``."""
    import runpy

    from google.cloud.aiplatform import gapic

    if argv[:1] != ["-m"] or len(argv) < 2:
        raise SystemExit("usage: python -m pipeline.offline_cloud.rehearsal -m MODULE [ARGS...]")
    setattr(gapic, "JobServiceClient", RecordingJobServiceClient)
    sys.argv = [argv[1]] + argv[2:]
    runpy.run_module(argv[1], run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    _run_module_with_recorded_jobs(sys.argv[1:])
