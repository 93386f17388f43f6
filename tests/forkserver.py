"""A fork server for the restart tests: imports the bot once, then forks a fresh process per run.

Starting `python -m bot run` costs seconds, nearly all of it imports; the restart tests kill and
restart the bot dozens of times. This server imports the modules once and forks: each child is a
new process (its own pid, files, sockets, locks) that runs a module as `python -m MODULE ARGS`
would — `runpy` with `run_name="__main__"`, so `bot` runs `bot/__main__.py` — and that the
test kills with SIGKILL like any other process. The kernel cleans up after it as after any
killed process: its connections close, its `flock` goes away, its unfinished SQLite
transaction is rolled back on the next open.

    python -m tests.forkserver bot.cli bot.scheduler ...      # modules to import first

Commands, one JSON object per line on stdin:
`{"module": "bot", "argv": ["run"], "env": {...}, "cwd": "...", "log": "..."}` forks a child
with the environment variables `env` added (the server's own TELEGRAM_*, DATABASE_URL and BOT_*
removed), in `cwd`, stderr appended to `log`. The server answers on stdout with protocol lines,
`@@ ` and a JSON object: `{"event": "started", "child": N}`, then, once the child ended,
`{"event": "exited", "child": N, "code": C}` (C < 0: killed by signal -C); the children may
write protocol lines of their own, with their "pid" (`tests.crashpoints`). One child at a time.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import queue
import runpy
import signal
import subprocess
import sys
import threading
import traceback
from collections import defaultdict
from pathlib import Path
from typing import Any

PREFIX = "@@ "
OWN_SETTINGS = ("TELEGRAM_", "DATABASE_URL", "BOT_")


def emit(event: str, **values: Any) -> None:
    sys.stdout.write(PREFIX + json.dumps({"event": event, "pid": os.getpid(), **values}) + "\n")
    sys.stdout.flush()


def _child(command: dict[str, Any]) -> None:
    code = 1
    try:
        for key in [k for k in os.environ if k.startswith(OWN_SETTINGS)]:
            del os.environ[key]
        os.environ.update(command.get("env") or {})
        os.chdir(command.get("cwd") or os.getcwd())
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        if command.get("log"):
            log = os.open(command["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            os.dup2(log, 2)
        sys.argv = [command["module"], *command.get("argv", [])]
        try:
            runpy.run_module(command["module"], run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def main() -> None:
    for module in sys.argv[1:]:
        importlib.import_module(module)
    emit("ready")
    for line in sys.stdin:
        if not line.strip():
            continue
        command = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(command)
        emit("started", child=pid)
        _, status = os.waitpid(pid, 0)
        emit("exited", child=pid, code=os.waitstatus_to_exitcode(status))


# ---------------------------------------------------------------- the tests' side


class ForkServer:
    """The server as a subprocess of the test, with a thread that sorts its protocol lines by pid."""

    def __init__(self, preload: list[str], *, cwd: Path, env: dict[str, str], timeout: float = 120.0) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.forkserver", *preload], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            cwd=cwd, env=env, text=True, bufsize=1,
        )
        self._events: defaultdict[int, queue.Queue[dict[str, Any]]] = defaultdict(queue.Queue)
        self._started: queue.Queue[dict[str, Any]] = queue.Queue()
        self._guard = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.children: list[Child] = []
        try:
            ready = self._queue(self.process.pid).get(timeout=timeout)
        except queue.Empty:
            self.close()
            raise TimeoutError(f"the fork server did not start within {timeout}s") from None
        assert ready["event"] == "ready", ready

    def _queue(self, pid: int) -> queue.Queue[dict[str, Any]]:
        with self._guard:
            return self._events[pid]

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if not line.startswith(PREFIX):
                continue
            message = json.loads(line[len(PREFIX):])
            if message["event"] == "started":
                self._started.put(message)
            else:
                self._queue(message.get("child", message["pid"])).put(message)

    async def spawn(self, module: str, argv: list[str], *, env: dict[str, str], cwd: Path, log: Path,
                    timeout: float = 30.0) -> Child:
        """A new process running `python -m MODULE ARGV...` (one at a time: end the last one first)."""
        assert self.process.stdin is not None
        command = {"module": module, "argv": argv, "env": env, "cwd": str(cwd), "log": str(log)}
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        try:
            started = await asyncio.to_thread(self._started.get, True, timeout)
        except queue.Empty:
            raise TimeoutError("the fork server started no child (is the last one still running?)") from None
        child = Child(self, int(started["child"]), log)
        self.children.append(child)
        return child

    def reap(self, timeout: float = 30.0) -> None:
        """Kills the children still running (a failed test's) and waits until they are gone."""
        for child in self.children:
            if child.code is None:
                child.kill()
                while child.code is None:
                    message = self._queue(child.pid).get(timeout=timeout)
                    if message["event"] == "exited":
                        child.code = int(message["code"])
        self.children.clear()

    def close(self) -> None:
        self.reap()
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class Child:
    """One forked process: its protocol lines, its end, and SIGKILL."""

    def __init__(self, server: ForkServer, pid: int, log: Path) -> None:
        self.server, self.pid, self.log = server, pid, log
        self.code: int | None = None

    async def event(self, timeout: float = 30.0) -> dict[str, Any]:
        """The child's next protocol line (or the server's note that it exited)."""
        try:
            message = await asyncio.to_thread(self.server._queue(self.pid).get, True, timeout)
        except queue.Empty:
            raise TimeoutError(f"process {self.pid} said nothing within {timeout}s; its log ends:\n"
                               f"{self.log_tail()}") from None
        if message["event"] == "exited":
            self.code = int(message["code"])
        return message

    async def wait(self, timeout: float = 30.0) -> int:
        """Its exit code (negative: killed by that signal)."""
        while self.code is None:
            await self.event(timeout)
        return self.code

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.code is None:
            os.kill(self.pid, sig)

    def log_tail(self, size: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-size:]
        except FileNotFoundError:
            return "(no log)"


if __name__ == "__main__":
    main()
