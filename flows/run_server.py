"""One Prefect server per run, however the run is started.

Each stage of `dvc repro` or `dvc exp run` is its own process. Left alone, Prefect would start a temporary server in
every one of them (about 10 s each). Instead the first stage starts this module as a detached process that serves
the Prefect API on a free port of 127.0.0.1; the stages after it find it through `.dqrec/prefect/server.json` and
use it; it stops by itself once no stage has held it for `DQREC_PREFECT_IDLE_SECONDS` (default 60). Its log,
`.dqrec/prefect/server.log`, has one "started" line per server.

A server the run already has (PREFECT_API_URL: the pipeline flow's, a deployment's, or one the user configured) is
used as it is, and nothing is started.

    python -m flows.run_server            # is a server running for this workspace? (its URL, or nothing)
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from dqrec.io import write_json_atomic

DEFAULT_IDLE_SECONDS = 60.0
START_TIMEOUT_SECONDS = 120.0


def idle_seconds() -> float:
    return float(os.environ.get("DQREC_PREFECT_IDLE_SECONDS", DEFAULT_IDLE_SECONDS))


@dataclass(frozen=True)
class ServerFiles:
    """Where a workspace's run server is recorded; git-ignored, beside the last run's stage times."""

    root: Path

    @property
    def folder(self) -> Path:
        return self.root / ".dqrec" / "prefect"

    @property
    def record(self) -> Path:
        return self.folder / "server.json"

    @property
    def leases(self) -> Path:
        return self.folder / "leases"

    @property
    def lock(self) -> Path:
        return self.folder / "lock"

    @property
    def log(self) -> Path:
        return self.folder / "server.log"


@contextmanager
def _locked(files: ServerFiles) -> Iterator[None]:
    files.leases.mkdir(parents=True, exist_ok=True)
    with open(files.lock, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _healthy(api_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


def _recorded(files: ServerFiles) -> tuple[int, str] | None:
    """The recorded server's pid and API URL, if it is alive and answers."""
    try:
        record = json.loads(files.record.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    if _alive(record["pid"]) and _healthy(record["api_url"]):
        return record["pid"], record["api_url"]
    return None


def _log_tail(files: ServerFiles, lines: int = 20) -> str:
    text = files.log.read_text(errors="replace") if files.log.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


def _start(files: ServerFiles) -> str:
    """Start the detached server process and wait until it answers; its API URL."""
    with open(files.log, "a") as log:
        process = subprocess.Popen([sys.executable, "-m", "flows.run_server", "--serve"], cwd=files.root,
                                   stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)  # outlives this stage; Ctrl-C of the run spares it
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the Prefect server for this run exited with code {process.returncode} before it "
                               f"answered; the end of its log ({files.log}):\n{_log_tail(files)}")
        found = _recorded(files)
        if found and found[0] == process.pid:
            return found[1]
        time.sleep(0.5)
    process.kill()
    raise RuntimeError(f"the Prefect server for this run did not answer within {START_TIMEOUT_SECONDS:.0f} s; "
                       f"the end of its log ({files.log}):\n{_log_tail(files)}")


@contextmanager
def run_server(root: Path = Path(".")) -> Iterator[str]:
    """Make this process's flows report to the run's Prefect server, starting it if there is none; its API URL.

    The process holds a lease on the server while inside the block, so that it does not stop under a running stage.
    """
    configured = os.environ.get("PREFECT_API_URL")
    if configured:
        yield configured
        return
    from prefect.settings import PREFECT_API_URL, temporary_settings

    files = ServerFiles(root.resolve())
    lease = files.leases / str(os.getpid())
    with _locked(files):
        found = _recorded(files)
        api_url = found[1] if found else _start(files)
        lease.touch()
    os.environ["PREFECT_API_URL"] = api_url  # for the processes this one starts (dvc, stages)
    try:
        with temporary_settings({PREFECT_API_URL: api_url}):
            yield api_url
            _flush_logs()
    finally:
        os.environ.pop("PREFECT_API_URL", None)
        lease.unlink(missing_ok=True)


def _flush_logs() -> None:
    # Logs are shipped by a background worker; send them before the process ends and its lease with it.
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=5)


def _held(files: ServerFiles) -> bool:
    """Whether any live process holds a lease (leases of processes that died without letting go are removed)."""
    held = False
    for lease in files.leases.iterdir():
        if lease.name.isdigit() and _alive(int(lease.name)):
            held = True
        else:
            lease.unlink(missing_ok=True)
    return held


def serve(files: ServerFiles) -> None:
    """The detached process: serve until nobody has held a lease for ``idle_seconds()``."""
    from prefect.server.api.server import SubprocessASGIServer

    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    server = SubprocessASGIServer()
    server.start(timeout=int(START_TIMEOUT_SECONDS))
    try:
        write_json_atomic(files.record, {"pid": os.getpid(), "api_url": server.api_url})
        print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} started a Prefect server for this run at {server.api_url} "
              f"(pid {os.getpid()}); it stops after {idle_seconds():.0f} s without a stage", flush=True)
        last_held = time.monotonic()
        while not stopping:
            time.sleep(1)
            if not files.folder.is_dir():  # the workspace went away (a queued experiment's temporary copy)
                break
            with _locked(files):
                if _held(files):
                    last_held = time.monotonic()
                elif time.monotonic() - last_held > idle_seconds():
                    files.record.unlink(missing_ok=True)
                    break
    finally:
        with suppress(FileNotFoundError, json.JSONDecodeError):
            if json.loads(files.record.read_text())["pid"] == os.getpid():
                files.record.unlink()
        server.stop()
        print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} stopped the Prefect server at {server.api_url}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)  # the detached process itself
    args = parser.parse_args()
    files = ServerFiles(Path(".").resolve())
    if args.serve:
        serve(files)
        return
    found = _recorded(files)
    print(f"a Prefect server serves this workspace's runs at {found[1]} (pid {found[0]})" if found
          else "no Prefect server is running for this workspace")


if __name__ == "__main__":
    main()
