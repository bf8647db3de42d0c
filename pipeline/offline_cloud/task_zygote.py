"""A warm interpreter for the rehearsal's tasks: each task still runs in a fresh process of its own.

A Vertex AI task runs ``python -m <module> ARGS`` in a new container, and most of such a start is
importing TFX's Vertex entrypoint and the executor it loads (TensorFlow, TFMA, Beam, TFT: about 15 s
a task on two cores). ``python -m pipeline.offline_cloud.task_zygote MODULE [PRELOAD...]`` imports them once, then,
for each task that ``Zygote.run`` sends it, forks a child that takes the task's environment, working
folder, log file and arguments and runs MODULE as ``python -m`` would, and reports the child's exit
code. Only the imports are shared: no task state outlives its child. Nothing is imported that starts
a thread, so forking stays safe: the zygote never builds a graph, opens a file on GCS or a channel.
"""

from __future__ import annotations

import importlib
import json
import os
import runpy
import subprocess
import sys
import traceback
from typing import Dict, List, Optional


def _child(module: str, request: Dict) -> None:
    """In the forked child: becomes the task's process and runs MODULE as ``__main__``; never returns."""
    code = 1
    try:
        os.setsid()
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        sys.argv = [module] + request["args"]
        sys.modules.pop(module, None)  # run afresh as __main__, as `python -m` does; its imports stay warm
        runpy.run_module(module, run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    except BaseException:  # the task's own error, into its log, as an uncaught exception would be
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def serve(module: str, preload: List[str]) -> None:
    """Answers on the stdout it was given; whatever the imports print goes to its stderr instead."""
    replies = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    for name in [module] + preload:
        importlib.import_module(name)
    print(json.dumps({"ready": True}), file=replies, flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            replies.close()
            _child(module, request)
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"code": os.waitstatus_to_exitcode(status)}), file=replies, flush=True)


class Zygote:
    """The parent's handle: ``run`` one task at a time; ``stop`` when the rehearsal ends."""

    def __init__(self, module: str, preload: List[str], env: Dict[str, str], cwd: str):
        command = [sys.executable, "-m", "pipeline.offline_cloud.task_zygote", module, *preload]
        self._process: Optional[subprocess.Popen] = subprocess.Popen(
            command,
            env=env,
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.module = module

    def _reply(self) -> Dict:
        assert self._process is not None and self._process.stdout is not None  # stdout=PIPE
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError(f"the task zygote for {self.module} ended (exit code {self._process.wait()})")
        return json.loads(line)

    def run(self, args: List[str], env: Dict[str, str], cwd: str, log_path: str) -> int:
        assert self._process is not None and self._process.stdin is not None  # stdin=PIPE
        if getattr(self, "_ready", None) is None:
            self._ready = self._reply()
        self._process.stdin.write(json.dumps({"args": args, "env": env, "cwd": cwd, "log": log_path}) + "\n")
        self._process.stdin.flush()
        return int(self._reply()["code"])

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        if self._process is not None:
            assert self._process.stdin is not None
            self._process.stdin.close()
            self._process.wait(timeout=30)
            self._process = None


if __name__ == "__main__":
    serve(sys.argv[1], sys.argv[2:])
