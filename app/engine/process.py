"""The worker in a process of its own beside `serve`'s receiver, so that each has a core.

`serve` starts `sla-bot work --kick-fd N` and writes down a pipe what its receiver tells the
worker in-process (`Worker.kick`): a byte for each delivery stored, its lane's, and a byte
asking it to look for effects too; the worker's own scheduler takes it from there.
The worker stops when the pipe closes: its server is gone. A worker process that dies is
started again; what it held is taken over when its claims lapse, as with any replica.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeVar

from app.engine.scheduler import Kick
from app.store.queue import ROUTINE_LANE, URGENT_LANE

log = logging.getLogger(__name__)
T = TypeVar("T")

URGENT, ROUTINE, LOOK = b"u", b"k", b"e"  # a delivery stored, by its lane; look
BUSY, CALM = b"b", b"c"  # the receiver started or stopped needing the machine (Scheduler)
LANES = {URGENT_LANE: URGENT, ROUTINE_LANE: ROUTINE}
# prometheus_client's switch to counts kept in files, one per process, added up at a scrape:
# set by `serve` (before prometheus_client is imported) when its worker has a process.
METRICS_DIR = "PROMETHEUS_MULTIPROC_DIR"
STANDALONE_POLL = 0.5  # `sla-bot work` with nothing kicking it looks this often
# Seconds the worker process gets to exit by itself once its pipe closes (it stops its
# loops; claims in hand lapse and are taken over), before SIGTERM, then SIGKILL.
STOP_WAIT = 10.0
RESTART_MAX = 30.0  # the longest wait before starting a worker that keeps failing again


def run_loop(main: Coroutine[Any, Any, T]) -> T:
    """Run `main` on uvloop when it is installed, as uvicorn runs `serve` (uvicorn[standard])."""
    try:
        import uvloop

        factory: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
    except ImportError:
        factory = None
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)


# Allocations between two collections of the youngest generation (CPython's default: 700).
COLLECT_AFTER = 50_000


def collect_rarely() -> None:
    """For a long-running process, once it has started: what start-up made (modules, classes,
    the policy, the app) is set aside where the collector never walks it again (`gc.freeze`),
    and the young generation is collected every `COLLECT_AFTER` allocations. Reference
    counting frees almost everything a delivery makes; with CPython's defaults the collector
    still took a tenth of a delivery's CPU (bench/RESULTS.md, section 18)."""
    gc.freeze()
    gc.set_threshold(COLLECT_AFTER, 20, 20)


def cpus() -> int:
    """The CPUs this process may run on (its affinity, not the machine's count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def separate(setting: str, database_url: str, available: Callable[[], int] = cpus) -> bool:
    """Whether `serve` runs its worker as a process of its own (SLA_WORKER): `process`,
    `inline`, or `auto`: a process of its own on PostgreSQL when there is more than one CPU
    to run on. SQLite takes one writer at a time, so two processes mostly wait for each
    other there (measured: fewer deliveries accepted, no more labeled)."""
    if setting != "auto":
        return setting == "process"
    return database_url.startswith("postgres") and available() > 1


class WorkerProcess:
    """`serve`'s side: starts the worker process, keeps it running, and kicks it."""

    def __init__(
        self,
        argv: Sequence[str] | None = None,
        restart_after: float = 1.0,
        share_metrics: bool = False,
    ) -> None:
        """`share_metrics`: both processes keep their counts in files that /metrics adds up
        (in a temporary directory removed at `stop`, unless METRICS_DIR is set already).
        Only before prometheus_client is first imported: it reads the setting then."""
        self._argv = list(argv or [sys.executable, "-m", "app.cli.main", "work"])
        self._restart_after = restart_after
        self._process: asyncio.subprocess.Process | None = None
        self._pipe: int | None = None  # the write end of the kick pipe of the running worker
        self._urgent_owed = False  # an urgent delivery's kick that did not fit in the pipe
        self._busy = False  # what the receiver last said (told again to a new worker)
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._owned_dir: str | None = None  # the metrics files' directory, removed at the end
        if share_metrics and not os.environ.get(METRICS_DIR):
            self._owned_dir = os.environ[METRICS_DIR] = tempfile.mkdtemp(prefix="sla-bot-")

    def forget_dir(self) -> None:
        """Remove the metrics files' directory it made (the server is done with it)."""
        if self._owned_dir is not None:
            shutil.rmtree(self._owned_dir, ignore_errors=True)
            self._owned_dir = None

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def start(self, sweep_interval: float = 0.0, maintenance: Any = None) -> None:
        """Start the worker process (it runs the sweep and maintenance itself, from the same
        settings; the arguments are the in-process worker's)."""
        self._task = asyncio.create_task(self._supervise(), name="worker-process")

    def kick(self, *, lane: int = ROUTINE_LANE, stored: int = 0) -> None:
        """Wake the worker (`Worker.kick`): a byte a delivery stored (its lane's), or one
        asking it to look for effects too."""
        urgent = lane == URGENT_LANE
        if self._pipe is None:
            self._urgent_owed |= urgent
            return  # starting: it looks for stored work as it starts
        urgent |= self._urgent_owed
        if stored:
            signal = (URGENT if urgent else ROUTINE) + ROUTINE * (stored - 1)
        else:
            signal = (URGENT if urgent else b"") + LOOK
        try:
            os.write(self._pipe, signal)
            self._urgent_owed = False
        except OSError:  # a full pipe (it has kicks enough to read), or it died (it looks for
            self._urgent_owed |= urgent  # stored work when started again): owe the urgency

    def receiver_busy(self, busy: bool) -> None:
        """Tell the worker the receiver here started or stopped being busy (its scheduler
        then holds routine work back, as in-process: they share the machine's cores)."""
        self._busy = busy
        if self._pipe is not None:
            with contextlib.suppress(OSError):  # a full pipe or a dead worker: told at start
                os.write(self._pipe, BUSY if busy else CALM)

    async def stop(self) -> None:
        """Close the pipe (the worker finishes and exits); SIGTERM, then SIGKILL, if it stays."""
        self._stopping = True
        self._close_pipe()
        process = self._process
        if process is not None and process.returncode is None:
            for step in ("wait", "terminate", "kill"):
                if step != "wait":
                    getattr(process, step)()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(process.wait(), STOP_WAIT)
                    break
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.forget_dir()  # after the last scrape: the server is shutting down

    async def _supervise(self) -> None:
        loop = asyncio.get_running_loop()
        wait = self._restart_after
        while not self._stopping:
            began = loop.time()
            try:
                code = await self._run_once()
            except OSError as exc:
                code = None
                log.error("the worker process could not be started: %s", exc)
            if self._stopping:
                return
            if loop.time() - began > 60:
                wait = self._restart_after  # it ran a while: not a crash loop
            log.error(
                "the worker process stopped (exit %s); starting it again in %.0f s", code, wait
            )
            await asyncio.sleep(wait)
            wait = min(wait * 2, RESTART_MAX)

    async def _run_once(self) -> int:
        read, write = os.pipe()
        try:
            self._process = await asyncio.create_subprocess_exec(
                *self._argv,
                "--kick-fd",
                str(read),
                pass_fds=(read,),
                stdin=asyncio.subprocess.DEVNULL,
            )
        except BaseException:
            os.close(write)
            raise
        finally:
            os.close(read)
        os.set_blocking(write, False)
        self._pipe = write
        # What came in while it was starting.
        self.kick(lane=URGENT_LANE if self._urgent_owed else ROUTINE_LANE)
        if self._busy:
            self.receiver_busy(True)
        try:
            return await self._process.wait()
        finally:
            self._close_pipe()

    def _close_pipe(self) -> None:
        pipe, self._pipe = self._pipe, None
        if pipe is not None:
            os.close(pipe)


def listen(
    fd: int,
    kick: Kick,
    gone: Callable[[], None],
    receiver_busy: Callable[[bool], None] = lambda busy: None,
) -> None:
    """The worker's side: what arrives on the pipe, passed to `kick` (`Worker.kick`) and
    `receiver_busy` (`Scheduler.receiver_busy`), as the receiver would in-process; `gone()`
    at its end."""
    loop = asyncio.get_running_loop()
    os.set_blocking(fd, False)

    def readable() -> None:
        try:
            data = os.read(fd, 4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            loop.remove_reader(fd)
            gone()
            return
        urgent, look, routine = data.count(URGENT), data.count(LOOK), data.count(ROUTINE)
        if urgent:
            kick(lane=URGENT_LANE, stored=urgent)
        if routine:
            kick(stored=routine)
        if look:
            kick()
        said = max(data.rfind(BUSY), data.rfind(CALM))
        if said >= 0:
            receiver_busy(data[said : said + 1] == BUSY)

    loop.add_reader(fd, readable)
