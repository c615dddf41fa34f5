"""Running untrusted (model-written) code: a fresh temporary directory, no network (a new
network namespace via ``unshare -rn``), CPU, memory, file-size and wall-clock limits
(``prlimit``), a clean environment with no secrets, and every process killed at the end.

It is a boundary against accidents and casual misuse, not a jail: the code can still read what
the worker's user can read. Run workers that verify generated code in a container or as an
unprivileged user with nothing worth reading (docs/results.md).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path, PurePosixPath

from fleet.config.schema import SandboxLimits

OUTPUT_TAIL = 4000  # characters of a command's output kept for the report


class SandboxRefused(Exception):
    """The code was not run (no way to cut off the network, or a path that leaves the
    sandbox)."""


@cache
def network_isolation() -> tuple[str, ...] | None:
    """The command prefix that runs a process without network, or None where this machine
    cannot (no ``unshare``, or user namespaces are not allowed)."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return None
    try:
        probe = subprocess.run([unshare, "-rn", "--", "true"], capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return (unshare, "-rn", "--") if probe.returncode == 0 else None


def safe_path(name: str) -> PurePosixPath:
    """``name`` as a relative path inside the sandbox, or SandboxRefused."""
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or not path.parts or ".." in path.parts:
        raise SandboxRefused(f"path {name!r} would leave the sandbox")
    return path


@dataclass
class Step:
    returncode: int
    output: str
    timed_out: bool = False


@dataclass
class Sandbox:
    root: Path
    limits: SandboxLimits
    prefix: tuple[str, ...]
    deadline: float
    steps: list[Step] = field(default_factory=list)

    def run(self, argv: list[str]) -> Step:
        """Run ``argv`` in the sandbox directory under its limits; its output is kept in a
        file (capped by the file-size limit) and its tail returned."""
        limits = self.limits
        command = [shutil.which("prlimit") or "prlimit", f"--cpu={limits.cpu_seconds}",
                   f"--as={limits.memory_mb << 20}", f"--fsize={limits.file_mb << 20}",
                   "--core=0", "--", *self.prefix, *argv]
        env = {"PATH": os.defpath, "HOME": str(self.root), "TMPDIR": str(self.root),
               "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1",
               "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
        log = self.root / f".step-{len(self.steps)}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(command, cwd=self.root, env=env, stdin=subprocess.DEVNULL,
                                       stdout=out, stderr=subprocess.STDOUT,
                                       start_new_session=True)
            timed_out = False
            try:
                process.wait(timeout=max(self.deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                timed_out = True
            finally:  # whatever it started dies with it
                with suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        text = log.read_bytes()[-OUTPUT_TAIL * 4:].decode(errors="replace")[-OUTPUT_TAIL:]
        step = Step(process.returncode, text, timed_out)
        self.steps.append(step)
        return step

    def read(self, name: str, limit: int = 8 << 20) -> bytes | None:
        path = self.root / safe_path(name)
        if not path.is_file() or path.is_symlink() or path.stat().st_size > limit:
            return None
        return path.read_bytes()


@contextmanager
def sandbox(files: Mapping[str, str], limits: SandboxLimits) -> Iterator[Sandbox]:
    """A sandbox holding ``files`` (relative path → text), removed afterwards. SandboxRefused
    where the network cannot be cut off, unless ``limits.allow_network``."""
    prefix = network_isolation()
    if prefix is None:
        if not limits.allow_network:
            raise SandboxRefused("cannot run without network here (unshare -rn is not "
                                 "available); set qe.sandbox.allowNetwork to run anyway")
        prefix = ()
    paths = {safe_path(name): text for name, text in files.items()}
    root = Path(tempfile.mkdtemp(prefix="fleet-sandbox-"))
    try:
        for path, text in paths.items():
            target = root / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        yield Sandbox(root, limits, prefix, time.monotonic() + limits.wall_seconds)
    finally:
        shutil.rmtree(root, ignore_errors=True)
