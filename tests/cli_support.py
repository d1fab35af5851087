"""Running ``lid-tui`` the way people do, for tests: an isolated environment per run, every
output remembered, never a traceback.

Two ways to start a command, same environment and same observable behaviour:

- :func:`run_installed` starts the installed ``lid-tui`` script: the real thing, about 0.4 s of
  imports per run. Use it where the exit status and message of the real command are the point.
- :class:`ForkedCommands` keeps one interpreter that has imported the command line and forks a
  child per command (about 30 ms). A child starts in the state a fresh process reaches right
  after its imports — no secret registered, no logger touched — so a leak of the token is seen
  as it would be in a fresh process. Use it for large matrices of runs.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from lid_tui.demo.server import DemoServer
from lid_tui.store import MappingStore

#: The token of the end-to-end tests: distinctive, so any leak of it is found.
TOKEN = "tok-E2E-Zq9x7Wv3-SECRET"

#: Starts ``lid-tui ARGS`` with exactly ``env``; returns the finished process.
Launcher = Callable[[Sequence[str], dict[str, str], float], subprocess.CompletedProcess[str]]

_FORK_SERVER = Path(__file__).with_name("cli_forkserver.py")


def lid_tui_command() -> list[str]:
    """The installed console script of this interpreter's environment."""
    found = shutil.which("lid-tui", path=str(Path(sys.executable).parent))
    return [found] if found else [sys.executable, "-m", "lid_tui"]


def closed_port() -> int:
    """A loopback port nothing listens on: connecting to it is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def seed_cache(path: Path, mappings: dict[str, str | None]) -> None:
    """The cache a complete refresh of ``mappings`` leaves (no provider needed)."""
    store = MappingStore.open(path)
    with store.writing("tests"):
        store.apply_refresh(mappings, complete=True, refresh_meta={"fetched": len(mappings)})
    store.close()


def run_installed(
    args: Sequence[str], env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``lid-tui ARGS`` as a real subprocess of the installed script."""
    return subprocess.run(
        [*lid_tui_command(), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


class ForkedCommands:
    """A warm interpreter (``cli_forkserver.py``) forking one child per ``lid-tui`` command.

    Not thread-safe: one command at a time. :meth:`close` ends the helper process.
    """

    def __init__(self) -> None:
        self._outputs = Path(tempfile.mkdtemp(prefix="lid-tui-forks-"))
        self._process = subprocess.Popen(
            [sys.executable, str(_FORK_SERVER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )

    def __call__(
        self, args: Sequence[str], env: dict[str, str], timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """Run ``lid-tui ARGS`` in a forked child with exactly ``env``; like ``run_installed``."""
        stdout, stderr = self._outputs / "stdout", self._outputs / "stderr"
        request = {
            "args": list(args),
            "env": env,
            "cwd": os.getcwd(),
            "stdout": str(stdout),
            "stderr": str(stderr),
            "timeout": timeout,
        }
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write(json.dumps(request) + "\n")
        self._process.stdin.flush()
        answer = self._process.stdout.readline()
        if not answer:
            raise RuntimeError("the lid-tui fork server died")
        status = json.loads(answer)["status"]
        if status == "timeout":
            raise subprocess.TimeoutExpired(["lid-tui", *args], timeout)
        return subprocess.CompletedProcess(
            ["lid-tui", *args],
            status,
            stdout.read_text(errors="replace"),
            stderr.read_text(errors="replace"),
        )

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        self._process.wait(timeout=10)
        shutil.rmtree(self._outputs, ignore_errors=True)


class Runner:
    """Runs ``lid-tui`` with an isolated environment and remembers every output.

    ``launch`` picks how (the installed script unless told); ``token`` is what the environment
    passes as ``LID_TUI_ACCESS_TOKEN``. With no ``server``, no base URL is set unless a run
    gives one (commands that never reach a provider need none).
    """

    def __init__(
        self,
        home: Path,
        server: DemoServer | None,
        *,
        token: str = TOKEN,
        launch: Launcher = run_installed,
    ) -> None:
        self.home = home
        self.server = server
        self.token = token
        self.launch = launch
        self.cache = home / "cache" / "instance.json"
        self.outputs: list[str] = []

    def env(
        self, token: str | None = None, base_url: str | None = None, *, with_token: bool = True
    ) -> dict[str, str]:
        """The environment of one run: only this test's folders and settings.

        ``with_token`` False leaves ``LID_TUI_ACCESS_TOKEN`` out (the flag then carries it).
        """
        env = {k: v for k, v in os.environ.items() if not k.startswith("LID_TUI_")}
        env.update(
            {
                "XDG_CONFIG_HOME": str(self.home / "config"),
                "XDG_CACHE_HOME": str(self.home / "xdg-cache"),
                "LID_TUI_CONFIG": str(self.home / "config" / "config.toml"),
                "LID_TUI_INSTANCE_ID": "demo",
                "LID_TUI_CACHE": str(self.cache),
            }
        )
        base_url = base_url or (self.server.base_url if self.server is not None else None)
        if base_url is not None:
            env["LID_TUI_BASE_URL"] = base_url
        if with_token:
            env["LID_TUI_ACCESS_TOKEN"] = self.token if token is None else token
        return env

    def __call__(
        self, *args: str, timeout: float = 60, **env_options: str | bool | None
    ) -> subprocess.CompletedProcess[str]:
        result = self.launch(args, self.env(**env_options), timeout)  # type: ignore[arg-type]
        self.outputs += [result.stdout, result.stderr]
        assert "Traceback" not in result.stderr, result.stderr
        return result
