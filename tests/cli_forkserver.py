"""A warm interpreter that runs ``lid-tui`` commands in forked children (tests only).

Started by :class:`cli_support.ForkedCommands`. It imports the command line once, then for each
request forks a child that takes the request's environment, working folder and output files,
runs ``lid-tui ARGS`` and exits with the command's status. The parent never runs a command, so
each child begins in the state a fresh ``lid-tui`` process reaches after its imports.

Protocol: one JSON request per line on stdin —
``{"args": [...], "env": {...}, "cwd": "...", "stdout": "FILE", "stderr": "FILE", "timeout": s}``
— and one JSON answer per line on stdout: ``{"status": N}`` (negative: killed by signal ``-N``)
or ``{"status": "timeout"}``. Single-threaded on purpose: forking a threaded process is unsafe.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import sys
import time
import traceback
from typing import Any, NoReturn

import httpx  # noqa: F401  (warm: third-party, holds no lid-tui state)

from lid_tui.cli import main


def run_child(request: dict[str, Any]) -> NoReturn:
    """In the forked child: become ``lid-tui ARGS`` and exit with its status."""
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    for fd, name in ((1, "stdout"), (2, "stderr")):
        os.dup2(os.open(request[name], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), fd)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.argv = ["lid-tui", *request["args"]]
    status: int = 0
    try:
        main.main(args=request["args"], prog_name="lid-tui")
    except SystemExit as exit_:
        if exit_.code is None:
            status = 0
        elif isinstance(exit_.code, int):
            status = exit_.code
        else:
            print(exit_.code, file=sys.stderr)
            status = 1
    except BaseException:  # what a fresh interpreter would print for an uncaught error
        traceback.print_exc()
        status = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(status)


def wait_for(pid: int, timeout: float) -> int | str:
    """The child's exit status, or "timeout" after killing it."""
    deadline = time.monotonic() + timeout
    while True:
        done, wait_status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(wait_status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return "timeout"
        time.sleep(0.002)


def serve() -> None:
    while line := sys.stdin.readline():
        request = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            run_child(request)
        status = wait_for(pid, float(request.get("timeout", 60)))
        sys.stdout.write(json.dumps({"status": status}) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    serve()
