"""The rehearsal's warm interpreter: each task forked from it is a process of its own, with its own
arguments, environment, working folder, log and exit code."""

import os
import sys

from pipeline.offline_cloud.task_zygote import Zygote

TASK = """
import os, sys
print("imported", flush=True)  # at import in the zygote: must not reach its replies
if __name__ == "__main__":
    print("argv", sys.argv[1:], "cwd", os.getcwd(), "x", os.environ.get("X"), "pid", os.getpid(), flush=True)
    sys.exit(int(os.environ.get("CODE", "0")))
"""


def test_each_task_runs_in_a_fresh_process_with_its_own_arguments_environment_and_log(tmp_path):
    (tmp_path / "fake_task.py").write_text(TASK)
    base = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    zygote = Zygote("fake_task", [], base, str(tmp_path))
    try:
        first, second = tmp_path / "first", tmp_path / "second"
        first.mkdir()
        second.mkdir()
        assert zygote.run(["--a", "1"], {**base, "X": "one"}, str(first), str(tmp_path / "first.log")) == 0
        code = zygote.run(["--b"], {**base, "X": "two", "CODE": "3"}, str(second), str(tmp_path / "second.log"))
        assert code == 3
    finally:
        zygote.stop()
    # Each log holds what `python -m fake_task` prints: its top-level line, then its main's.
    one, two = (tmp_path / "first.log").read_text().split()[1:], (tmp_path / "second.log").read_text().split()[1:]
    assert one[:6] == ["argv", "['--a',", "'1']", "cwd", str(first), "x"] and one[6] == "one"
    assert two[:5] == ["argv", "['--b']", "cwd", str(second), "x"] and two[5] == "two"
    assert one[-1] != two[-1] and os.getpid() not in (int(one[-1]), int(two[-1]))  # two processes, neither this one
