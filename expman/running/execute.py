"""Run one step's command: in its own process group, output streamed as it is written.

stdout and stderr are read as they arrive (no buffering until the step ends) and go
both to the terminal and to the step's log files. Ctrl-C (or SIGTERM turned into
KeyboardInterrupt) stops the step's whole process group: SIGINT, then SIGTERM, then
SIGKILL, each after a grace period.
"""

from __future__ import annotations

import contextlib
import functools
import os
import selectors
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import BinaryIO, NamedTuple, TextIO

from expman.errors import StageError
from expman.processes import GRACE_SECONDS, signal_on_parent_death

_CHUNK = 65536


class Finished(NamedTuple):
    """How a step's process ended. `returncode` is negative -N when killed by signal N."""

    returncode: int
    started: float
    duration: float


def run(
    argv: Sequence[str],
    cwd: Path,
    env: Mapping[str, str],
    logs: tuple[Path, Path],
    terminal: tuple[TextIO, TextIO],
    on_start: Callable[[int], None] | None = None,
) -> Finished:
    """Run `argv`, teeing stdout/stderr to `terminal` and to the two `logs` files."""
    started = time.time()
    clock = time.monotonic()
    # The logs exist before the step starts: a step that ran, however briefly, has them.
    with logs[0].open("ab") as out_log, logs[1].open("ab") as err_log:
        try:
            process = _spawn(list(argv), cwd, dict(env))
        except OSError as e:
            raise StageError(f"cannot start {argv[0]}: {e.strerror or e}") from e
        try:
            if on_start:
                on_start(process.pid)  # inside: an interrupt here must stop the process too
            _pump(
                process,
                {process.stdout: (out_log, terminal[0]), process.stderr: (err_log, terminal[1])},
            )
            returncode = process.wait()
        except BaseException:  # KeyboardInterrupt, or anything else: never leave it running
            stop_group(process)
            raise
        finally:
            _close(process)
    return Finished(returncode, started, time.monotonic() - clock)


def _spawn(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Start a step in its own process group (out of reach of the terminal's Ctrl-C), with
    its output piped, killed when expman dies however it dies (Linux `PR_SET_PDEATHSIG`;
    its own children are found by `processes.stray_processes`).

    The death signal is set by util-linux's `setpriv`, which then execs the step: setting
    it in Python before exec (`preexec_fn`) makes subprocess fork instead of vfork, which
    cost 5 ms a step in a runner (docs/performance.md). Without `setpriv` it is set so.
    """
    setpriv = death_signal_setter()
    if setpriv is not None:
        _check_executable(argv[0], cwd, env)
    return subprocess.Popen(
        [setpriv, "--pdeathsig", "KILL", "--", *argv] if setpriv else argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        preexec_fn=None if setpriv else functools.partial(signal_on_parent_death, signal.SIGKILL),
    )


def _check_executable(program: str, cwd: Path, env: dict[str, str]) -> None:
    """Raise what Popen would for a program that cannot be started: behind `setpriv` it
    would only be a line in the step's log and exit code 127."""
    found = shutil.which(
        program if "/" not in program else str(cwd / program), path=env.get("PATH", os.defpath)
    )
    if found is None:
        missing = not (cwd / program).exists() if "/" in program else True
        raise OSError("No such file or directory" if missing else "Permission denied")


@functools.cache
def death_signal_setter() -> str | None:
    """util-linux's `setpriv`, when it has `--pdeathsig` (2.33 and later: older
    systems, common on clusters, have a `setpriv` without it)."""
    found = shutil.which("setpriv") if sys.platform.startswith("linux") else None
    if found is None:
        return None
    try:
        tried = subprocess.run(
            [found, "--pdeathsig", "KILL", "--", "true"], capture_output=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return found if tried.returncode == 0 else None


def _pump(process: subprocess.Popen[bytes], routes: dict[object, tuple[BinaryIO, TextIO]]) -> None:
    with selectors.DefaultSelector() as selector:
        for stream in routes:
            selector.register(stream, selectors.EVENT_READ)  # type: ignore[arg-type]
        while selector.get_map():
            for key, _ in selector.select():
                chunk = os.read(key.fd, _CHUNK)
                if not chunk:
                    selector.unregister(key.fileobj)
                    continue
                log, terminal = routes[key.fileobj]
                log.write(chunk)
                log.flush()
                _write(terminal, chunk)


def _write(stream: TextIO, chunk: bytes) -> None:
    buffer = getattr(stream, "buffer", None)
    try:
        if buffer is not None:
            buffer.write(chunk)
            buffer.flush()
        else:
            stream.write(chunk.decode("utf-8", errors="replace"))
            stream.flush()
    except (OSError, ValueError):
        pass  # the terminal went away (closed pipe): the log file still has everything


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """Stop the process group of `process`: SIGINT, SIGTERM, then SIGKILL."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=GRACE_SECONDS)
            break
        except subprocess.TimeoutExpired:
            continue
        except KeyboardInterrupt:
            continue  # a second ^C: move on to the next, harder signal at once
    _reap_group(process.pid)


def _close(process: subprocess.Popen[bytes]) -> None:
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()


def _reap_group(pgid: int) -> None:
    """Children of the step may outlive it in its group: make sure none are left."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def command_line(cmd: str | None, script: str | None, args: Sequence[str], root: Path) -> list[str]:
    """The argument list of a step: `bash -c CMD`, or the script with its interpreter.

    A script runs with the interpreter of its `#!` line, or with bash when it has none,
    so that a script without the executable bit still runs.
    """
    if cmd is not None:
        return ["bash", "-c", cmd]
    assert script is not None
    path = root / script
    try:
        with path.open("rb") as f:
            first = f.readline(256)
    except OSError as e:
        raise StageError(f"cannot read the script {script}: {e.strerror or e}") from e
    if first.startswith(b"#!"):
        interpreter = first[2:].decode(errors="replace").strip().split()
        return [*interpreter, str(path), *args]
    return ["bash", str(path), *args]
