"""Child processes of a real run: spawn, track in a state file, stop, and clean up after a crash.

Every child's pid and command line are written to ``<state dir>/children.json`` (default
``/tmp/meshsim-real``, override with ``MESHSIM_REAL_STATE``) as soon as it starts. A run holds an
exclusive ``flock`` on ``<state dir>/lock`` for its lifetime; the kernel drops it when the runner dies,
however it dies. At start, :func:`cleanup_stale` kills the children a dead runner left behind
(matching pid *and* command line, so a recycled pid is never hit) and removes the state.

Children also die with the runner when possible: Envoys are started under ``setpriv --pdeathsig TERM``
(util-linux) when available, and meshsim's own Python children exit when their parent changes.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from meshsim.errors import MeshsimError

__all__ = ["state_dir", "RunLock", "AnotherRunActive", "cleanup_stale", "Children"]


class AnotherRunActive(MeshsimError):
    """A real run is already in progress on this machine."""


def state_dir() -> Path:
    """The state directory (created if missing)."""
    p = Path(os.environ.get("MESHSIM_REAL_STATE", "/tmp/meshsim-real"))
    p.mkdir(parents=True, exist_ok=True)
    return p


def _cmdline(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


class RunLock:
    """Exclusive lock of the state directory for one run (``fcntl.flock``, released on process death)."""

    def __init__(self) -> None:
        self.path = state_dir() / "lock"
        self._f: IO[str] | None = None

    def acquire(self) -> None:
        """Take the lock.

        Raises
        ------
        AnotherRunActive
            If another live process holds it.
        """
        f = open(self.path, "a+")  # noqa: SIM115 - held for the run's lifetime
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            owner = f.read().strip() or "?"
            f.close()
            raise AnotherRunActive(f"another real run is in progress (pid {owner}); wait for it or stop it") from None
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        self._f = f

    def release(self) -> None:
        if self._f is not None:
            fcntl.flock(self._f, fcntl.LOCK_UN)
            self._f.close()
            self._f = None


def _kill_pid(pid: int, argv: list[str], timeout: float = 3.0) -> bool:
    """SIGTERM then SIGKILL ``pid`` if its command line still equals ``argv``; True if it was killed."""
    cur = _cmdline(pid)
    if cur is None or cur != argv:
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _cmdline(pid) != argv:
            return True
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    return True


def cleanup_stale() -> list[int]:
    """Kill children recorded by a previous run that died without cleaning up; return their pids.

    Call it with the :class:`RunLock` held (so the previous owner is known to be dead).
    """
    path = state_dir() / "children.json"
    if not path.exists():
        return []
    try:
        entries = json.loads(path.read_text())
    except (OSError, ValueError):
        entries = []
    killed = [e["pid"] for e in entries if _kill_pid(int(e["pid"]), list(e["argv"]))]
    path.unlink(missing_ok=True)
    return killed


_JOIN_AND_EXEC = 'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 97; shift; n=$((n-1)); done; exec "$@"'
"""Shell program: ``sh -c PROG sh N FILE1..FILEN ARGV...`` joins N cgroups, then becomes ``ARGV``."""


@dataclass
class _Child:
    name: str
    proc: subprocess.Popen[bytes]
    argv: list[str]


class Children:
    """The processes of one run. :meth:`spawn` records each in the state file; :meth:`stop_all` ends
    them (SIGTERM, then SIGKILL after ``grace`` seconds) and clears the file."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.children: list[_Child] = []
        self.adopted: list[tuple[str, int, list[str]]] = []
        """Grandchildren (name, pid, command line): processes a child forked, e.g. the pods' apps."""
        self._state = state_dir() / "children.json"

    def _save(self) -> None:
        tmp = self._state.with_suffix(".tmp")
        rows = [{"name": c.name, "pid": c.proc.pid, "argv": c.argv} for c in self.children]
        rows += [{"name": n, "pid": pid, "argv": argv} for n, pid, argv in self.adopted]
        tmp.write_text(json.dumps(rows))
        os.replace(tmp, self._state)

    def adopt(self, name: str, pid: int, parent: str) -> None:
        """Record process ``pid``, forked by the child ``parent`` (so its command line is the parent's), in the
        state file and in :meth:`cpu_seconds`; :meth:`stop_all` stops it if it outlives its parent."""
        argv = next(c.argv for c in self.children if c.name == parent)
        self.adopted.append((name, pid, argv))
        self._save()

    def spawn(
        self,
        name: str,
        argv: list[str],
        pdeathsig: bool = False,
        nice: int = 0,
        cgroup_procs: tuple[Path, ...] = (),
        **kw: Any,
    ) -> subprocess.Popen[bytes]:
        """Start ``argv`` with stdout/stderr to ``<log dir>/<name>.log`` (unless given in ``kw``).

        ``cgroup_procs``: the ``cgroup.procs`` files the process joins before it runs ``argv`` (a POSIX
        shell writes its own pid into each, then ``exec``s the program, so no thread of it ever runs outside
        its cgroups; a refused write exits 97 with the shell's message in the log).

        ``nice`` != 0 runs it under ``nice -n`` (coreutils), so every thread it starts has that
        priority; a ``preexec_fn`` is not used because the runner has gRPC threads and forking Python
        code there can crash the child. Without the privilege for a negative value ``nice`` warns on the
        child's stderr and runs it at the default priority.
        """
        program = list(argv)
        if cgroup_procs:
            argv = ["/bin/sh", "-c", _JOIN_AND_EXEC, "sh", str(len(cgroup_procs)), *map(str, cgroup_procs), *argv]
        if nice and shutil.which("nice"):
            argv = [str(shutil.which("nice")), "-n", str(nice), *argv]
        if pdeathsig and shutil.which("setpriv"):
            argv = [str(shutil.which("setpriv")), "--pdeathsig", "TERM", *argv]
        if "stdout" not in kw:
            log = open(self.log_dir / f"{name}.log", "wb")  # noqa: SIM115 - closed by the child's exit
            kw["stdout"] = log
            kw["stderr"] = subprocess.STDOUT
        kw.setdefault("stdin", subprocess.DEVNULL)
        proc = subprocess.Popen(argv, **kw)  # noqa: S603 - argv built by us
        # setpriv, nice and the cgroup shell exec the real program, so the recorded command line is the program's own
        recorded = program
        self.children.append(_Child(name, proc, recorded))
        self._save()
        return proc

    def pids(self) -> dict[str, int]:
        """Name -> pid of every child and adopted process (live or not)."""
        return {c.name: c.proc.pid for c in self.children} | {n: p for n, p, _ in self.adopted}

    def dead(self) -> list[str]:
        """Names of children that have exited."""
        return [c.name for c in self.children if c.proc.poll() is not None]

    def stop_all(self, grace: float = 3.0) -> None:
        for c in self.children:
            if c.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    c.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for c in self.children:
            left = max(0.0, deadline - time.monotonic())
            try:
                c.proc.wait(left)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    c.proc.kill()
                c.proc.wait(5)
        for _, pid, argv in self.adopted:  # their parent stops them; one that outlived it (same pid+argv) too
            _kill_pid(pid, argv, timeout=1.0)
        self.adopted.clear()
        self.children.clear()
        self._state.unlink(missing_ok=True)

    def cpu_seconds(self) -> dict[str, float]:
        """User+system CPU seconds of each live child so far (``/proc/<pid>/stat``)."""
        tick = os.sysconf("SC_CLK_TCK")
        out: dict[str, float] = {}
        for name, pid in [(c.name, c.proc.pid) for c in self.children] + [(n, p) for n, p, _ in self.adopted]:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            out[name] = (int(fields[11]) + int(fields[12])) / tick
        return out
