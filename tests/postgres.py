"""A throwaway PostgreSQL server on loopback for tests: initdb into a temporary folder, start on
a free port, yield its URL, stop and delete. In CI (CI=true) failing to start one fails the
test; elsewhere it skips with the reason."""
from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest


def _bindir() -> Path | None:
    for cand in [shutil.which("pg_ctl")] + sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), reverse=True):
        if cand:
            return Path(os.path.realpath(cand)).parent
    return None


def _unavailable(why: str):
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"PostgreSQL is required in CI (.ci/run installs it): {why}")
    pytest.skip(f"no PostgreSQL server available here: {why}")


@contextlib.contextmanager
def postgres_server():
    bindir = _bindir()
    if bindir is None:
        _unavailable("pg_ctl not found")
    tmp = Path(tempfile.mkdtemp(prefix="lab-pg-"))   # not under pytest's root-only tmp tree
    data = tmp / "pgdata"
    data.mkdir()
    as_user: list[str] = []
    if os.geteuid() == 0:          # PostgreSQL refuses to run as root
        shutil.chown(tmp, "postgres")
        shutil.chown(data, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run = lambda *cmd: subprocess.run([*as_user, *cmd], capture_output=True, text=True, timeout=120)  # noqa: E731
    r = run(str(bindir / "initdb"), "-D", str(data), "-U", "lab", "--auth=trust", "--no-sync")
    if r.returncode:
        _unavailable(f"initdb failed: {r.stderr.strip()[-300:]}")
    r = run(str(bindir / "pg_ctl"), "-D", str(data), "-w", "-l", str(data / "log"),
            "-o", f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
    if r.returncode:
        _unavailable(f"pg_ctl start failed: {r.stderr.strip()[-300:]} {(data / 'log').read_text()[-300:] if (data / 'log').exists() else ''}")
    try:
        r = run(str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "lab", "lab")
        if r.returncode:
            _unavailable(f"createdb failed: {r.stderr.strip()[-300:]}")
        yield f"postgresql://lab@127.0.0.1:{port}/lab"
    finally:
        run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(tmp, ignore_errors=True)
