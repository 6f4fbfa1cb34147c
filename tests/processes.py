"""`sla-bot` as a process, for the tests that start it a hundred times.

Each start of `python -m app.cli.main` spends about a second of CPU importing SQLAlchemy,
FastAPI, aiohttp, cryptography and the rest before any of sla-bot runs; that was over a third of
the suite's CPU. Here a process that has imported those libraries once (the zygote, one per test
process) forks a child for each start, which then runs the command as `python -m` would: its own
argv, environment, working directory and standard streams, its own sla-bot modules imported
fresh, atexit handlers and non-daemon threads run at exit, signals and exit codes as usual.

`Popen` and `run` take the `subprocess` arguments the tests use. Only the libraries are shared:
nothing of sla-bot is imported before the fork, nor `prometheus_client` (it reads its
multiprocess directory from the environment when imported). SLA_BOT_TEST_EXEC=1 starts every
command with a fresh interpreter instead, as a user's shell does; so does a run under
libfaketime (FAKETIME set).
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import io
import json
import os
import runpy
import selectors
import signal
import socket
import subprocess
import sys
import threading
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

PRELOAD = (
    "sqlalchemy",
    "sqlalchemy.dialects.sqlite",
    "sqlalchemy.dialects.postgresql.psycopg",
    "alembic.command",
    "alembic.config",
    "alembic.runtime.migration",
    "fastapi",
    "fastapi.responses",
    "pydantic.v1",
    "uvicorn",
    "uvicorn.protocols.http.httptools_impl",
    "uvicorn.lifespan.on",
    "aiohttp",
    "gidgethub.aiohttp",
    "gidgethub.routing",
    "jwt",
    "cryptography.hazmat.primitives.serialization",
    "pydantic_settings",
    "slack_sdk.web.async_client",
    "slack_sdk.signature",
    "holidays",
    "yaml",
    "cachetools",
    "stamina",
    "twilio.request_validator",
    "twilio.twiml.voice_response",
)
MODULE = "app.cli.main"
_MAX_MESSAGE = 1 << 20


# --- the test's side ---------------------------------------------------------------------------


class _Zygote:
    """The forking process of this test process, started on first use."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.processes", str(theirs.fileno())],
            pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL,
            cwd=Path(__file__).resolve().parent.parent,
        )
        theirs.close()
        self.control = ours
        self.lock = threading.Lock()
        atexit.register(self.close)

    def close(self) -> None:
        """Closing the channel ends the zygote (its children run on, as orphans would)."""
        self.control.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def fork(self, request: Mapping[str, Any], fds: Sequence[int]) -> socket.socket:
        """Ask for a child; the returned socket gives its pid, then its exit code."""
        reply, theirs = socket.socketpair()
        with self.lock:
            socket.send_fds(self.control, [json.dumps(request).encode()], [theirs.fileno(), *fds])
        theirs.close()
        return reply


_zygote: _Zygote | None = None
_zygote_lock = threading.Lock()


def _the_zygote() -> _Zygote:
    global _zygote
    with _zygote_lock:
        if _zygote is None or _zygote.process.poll() is not None:
            _zygote = _Zygote()
        return _zygote


def _cli_argv(args: Sequence[str]) -> list[str] | None:
    """The CLI's arguments when `args` starts sla-bot (`python -m app.cli.main`, or the
    `sla-bot` script beside this Python), else None."""
    if os.environ.get("SLA_BOT_TEST_EXEC") == "1" or not hasattr(os, "pidfd_open"):
        return None
    if "FAKETIME" in os.environ:
        # libfaketime starts each new process's clock at the faked time; a forked child would
        # go on with the zygote's, minutes ahead of the processes sla-bot starts itself.
        return None
    if list(args[:3]) == [sys.executable, "-m", MODULE]:
        return list(args[3:])
    if args and Path(args[0]) == Path(sys.executable).with_name("sla-bot"):
        return list(args[1:])
    return None


class Forked:
    """The subprocess.Popen interface the tests use, for a child of the zygote."""

    def __init__(
        self,
        args: Sequence[str],
        *,
        cwd: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
        stdin: int | IO[Any] | None = None,
        stdout: int | IO[Any] | None = None,
        stderr: int | IO[Any] | None = None,
        text: bool = False,
    ) -> None:
        self.args = list(args)
        self.returncode: int | None = None
        self.stdin: IO[Any] | None = None
        self.stdout: IO[Any] | None = None
        self.stderr: IO[Any] | None = None
        theirs: list[int] = []
        closing: list[int] = []

        def stream(spec: int | IO[Any] | None, fd: int, reading: bool) -> IO[Any] | None:
            if spec is None:
                theirs.append(fd)
            elif spec == subprocess.DEVNULL:
                null = os.open(os.devnull, os.O_RDWR)
                theirs.append(null)
                closing.append(null)
            elif spec == subprocess.PIPE:
                read, write = os.pipe()
                theirs.append(read if reading else write)
                closing.append(read if reading else write)
                ours = write if reading else read
                mode = ("w" if reading else "r") + ("" if text else "b")
                return open(ours, mode, encoding="utf-8" if text else None)
            elif spec == subprocess.STDOUT:
                theirs.append(theirs[1])
            elif isinstance(spec, int):
                theirs.append(spec)
            else:
                theirs.append(spec.fileno())
            return None

        self.stdin = stream(stdin, 0, reading=True)
        self.stdout = stream(stdout, 1, reading=False)
        self.stderr = stream(stderr, 2, reading=False)
        request = {
            "argv": _cli_argv(args),
            "env": dict(os.environ if env is None else env),
            "cwd": os.fspath(cwd) if cwd is not None else os.getcwd(),
        }
        try:
            self._reply = _the_zygote().fork(request, theirs)
        finally:
            for fd in closing:
                os.close(fd)
        self._lines = self._reply.makefile("r", encoding="ascii")
        self.pid = int(self._lines.readline())
        self._status = threading.Thread(target=self._await_exit, daemon=True)
        self._exited = threading.Event()
        self._status.start()

    def _await_exit(self) -> None:
        line = self._lines.readline()
        self.returncode = int(line) if line else -signal.SIGKILL  # the zygote itself died
        self._lines.close()
        self._reply.close()
        self._exited.set()

    def poll(self) -> int | None:
        return self.returncode if self._exited.is_set() else None

    def wait(self, timeout: float | None = None) -> int:
        if not self._exited.wait(timeout):
            raise subprocess.TimeoutExpired(self.args, timeout or 0)
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if not self._exited.is_set():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def communicate(self, input: Any = None, timeout: float | None = None) -> tuple[Any, Any]:
        """Both streams read to their end (each in a thread, as subprocess does), then the exit."""
        read: dict[str, Any] = {}

        def drain(name: str, pipe: IO[Any] | None) -> None:
            if pipe is not None:
                read[name] = pipe.read()
                pipe.close()

        readers = [
            threading.Thread(target=drain, args=(name, pipe), daemon=True)
            for name, pipe in (("out", self.stdout), ("err", self.stderr))
        ]
        for reader in readers:
            reader.start()
        if self.stdin is not None:
            if input:
                self.stdin.write(input)
            self.stdin.close()
        self.wait(timeout)
        for reader in readers:
            reader.join(timeout)
        return read.get("out"), read.get("err")

    def __enter__(self) -> Forked:
        return self

    def __exit__(self, *exc: object) -> None:
        for pipe in (self.stdin, self.stdout, self.stderr):
            if pipe is not None:
                pipe.close()
        self.wait()


def Popen(args: Sequence[str], **options: Any) -> Any:
    """subprocess.Popen, forked from the zygote when `args` runs sla-bot's CLI module."""
    if _cli_argv(args) is not None:
        return Forked(args, **options)
    return subprocess.Popen(args, **options)


def run(
    args: Sequence[str],
    *,
    capture_output: bool = False,
    timeout: float | None = None,
    check: bool = False,
    **options: Any,
) -> subprocess.CompletedProcess[Any]:
    """subprocess.run, forked from the zygote when `args` runs sla-bot's CLI module."""
    if _cli_argv(args) is None:
        return subprocess.run(
            args, capture_output=capture_output, timeout=timeout, check=check, **options
        )
    if capture_output:
        options.update(stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process = Forked(args, **options)
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise
    done = subprocess.CompletedProcess(list(args), process.wait(), out, err)
    if check:
        done.check_returncode()
    return done


# --- the zygote's side -------------------------------------------------------------------------


def _serve(control: socket.socket) -> None:
    """Fork a child per request; report each child's exit code on its request's socket."""
    # Ctrl-C reaches the commands as from a terminal, even when this test run ignores it
    # (a background job of a shell without job control starts with SIGINT ignored).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for name in PRELOAD:
        importlib.import_module(name)
    assert "prometheus_client" not in sys.modules and "app" not in sys.modules
    waiting = selectors.DefaultSelector()
    waiting.register(control, selectors.EVENT_READ)
    while True:
        for key, _ in waiting.select():
            if key.fileobj is control:
                message, fds, _, _ = socket.recv_fds(control, _MAX_MESSAGE, 8)
                if not message:
                    return  # the test process is gone
                reply = socket.socket(fileno=fds[0])
                sys.stdout.flush()
                sys.stderr.flush()
                pid = os.fork()
                if pid == 0:
                    waiting.close()
                    control.close()
                    reply.close()
                    _child(json.loads(message), fds[1:])
                for fd in fds[1:]:
                    os.close(fd)
                reply.sendall(f"{pid}\n".encode())
                waiting.register(os.pidfd_open(pid), selectors.EVENT_READ, (pid, reply))
            else:
                pid, reply = key.data
                waiting.unregister(key.fileobj)
                os.close(key.fd)
                _, status = os.waitpid(pid, 0)
                with contextlib.suppress(OSError):  # nobody waits for this one any more
                    reply.sendall(f"{os.waitstatus_to_exitcode(status)}\n".encode())
                reply.close()


def _child(request: Mapping[str, Any], fds: Sequence[int]) -> None:
    """Become `python -m app.cli.main ARGV` with the request's streams, env and folder."""
    high = [os.dup(fd) for fd in fds]  # out of 0-2's way before they are replaced
    for fd in fds:
        os.close(fd)
    for target, fd in enumerate(high):
        os.dup2(fd, target)
    for fd in set(high):
        os.close(fd)
    os.chdir(request["cwd"])
    sys.path[0] = os.getcwd()  # where `python -m` looks first
    os.environ.clear()
    os.environ.update(request["env"])
    unbuffered = bool(os.environ.get("PYTHONUNBUFFERED"))
    sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding="utf-8")
    sys.stdout = io.TextIOWrapper(
        io.FileIO(1, "w", closefd=False), encoding="utf-8", write_through=unbuffered
    )
    sys.stderr = io.TextIOWrapper(
        io.FileIO(2, "w", closefd=False),
        encoding="utf-8",
        errors="backslashreplace",
        line_buffering=True,
    )
    sys.argv = ["-m", *request["argv"]]
    code = _run_module()
    threading._shutdown()  # type: ignore[attr-defined]  # as the interpreter does at exit
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


def _run_module() -> int:
    """Run the CLI as `python -m` does and return the exit code the interpreter would."""
    try:
        runpy.run_module(MODULE, run_name="__main__", alter_sys=True)
    except SystemExit as exit:
        if exit.code is None:
            return 0
        if isinstance(exit.code, int):
            return exit.code
        print(exit.code, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        traceback.print_exc()
        sys.stderr.flush()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)  # die of SIGINT, as Python does
    except BaseException:
        traceback.print_exc()
        return 1
    return 0


if __name__ == "__main__":
    _serve(socket.socket(fileno=int(sys.argv[1])))
