"""``verify --scheduler``: bundles verified on a real Dask cluster (a ``dask scheduler`` and a
``dask worker`` with 2 worker processes, started on 127.0.0.1 here and stopped at the end).

Each cluster gets its own, empty rebuild-env cache: its first bundle builds (cold), later
runs reuse (warm). uv's package cache stays the machine's, so builds take seconds.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip(
    "distributed", reason="the dask extra is not installed: pip install 'rebuild-env[dask]'"
)

from distributed import Client

from rebuild_env.backends.base import INCOMPLETE_MARKER
from rebuild_env.distributed import CONNECT_TIMEOUT_S, PROGRESS_TOPIC, TASK_KEY_PREFIX
from tests.conftest import EXAMPLE_BUNDLE, run_cli

pytestmark = [pytest.mark.slow, pytest.mark.network]

WORKERS = 2
DASK = (sys.executable, "-m", "dask")
WORKER_FLAGS = ("--nworkers", str(WORKERS), "--nthreads", "1", "--no-dashboard")
VERIFY = (sys.executable, "-m", "rebuild_env", "verify")
START_TIMEOUT_S = 120
EVENT_TIMEOUT_S = 300
"""How long a test waits for a stage event (a loaded machine builds slowly)."""
CLI_TIMEOUT_S = 600
STOP_GRACE_S = 15


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group (the worker's nannies and their workers), then SIGKILL."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=STOP_GRACE_S)
            return
        except subprocess.TimeoutExpired:
            continue


@dataclass(frozen=True)
class Cluster:
    address: str
    cache: Path
    client: Client
    env: dict[str, str]
    """The CLI's environment: the same rebuild-env cache as the workers' (a local run)."""


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    cache = tmp_path / "worker-cache"
    env = {**os.environ, "REBUILD_ENV_CACHE_DIR": str(cache)}
    env.pop("DASK_SCHEDULER_ADDRESS", None)
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    logs = tmp_path / "dask-logs"
    logs.mkdir()
    common = {"env": env, "cwd": tmp_path, "start_new_session": True}
    with (logs / "scheduler.log").open("wb") as slog, (logs / "worker.log").open("wb") as wlog:
        scheduler = subprocess.Popen(
            [*DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
            stdout=slog,
            stderr=subprocess.STDOUT,
            **common,  # type: ignore[call-overload]
        )
        workers = subprocess.Popen(
            [*DASK, "worker", address, "--host", "127.0.0.1", *WORKER_FLAGS],
            stdout=wlog,
            stderr=subprocess.STDOUT,
            **common,  # type: ignore[call-overload]
        )
        client = None
        try:
            client = Client(address, timeout=START_TIMEOUT_S, set_as_default=False)
            client.wait_for_workers(WORKERS, timeout=START_TIMEOUT_S)
            yield Cluster(address, cache, client, env)
        finally:
            if client is not None:
                client.close()
            _stop(workers)
            _stop(scheduler)


def _bundles(folder: Path, count: int = 3) -> list[Path]:
    bundles = []
    for n in range(1, count + 1):
        bundle = folder / f"model-{n}"
        shutil.copytree(EXAMPLE_BUNDLE, bundle)
        bundles.append(bundle)
    return bundles


def _rows(stdout: str) -> dict[str, dict[str, Any]]:
    doc = json.loads(stdout)
    names = [Path(r["bundle"]).name for r in doc["bundles"]]
    assert len(names) == len(set(names)), f"a bundle reported twice: {names}"
    return {Path(r["bundle"]).name: r for r in doc["bundles"]}


def _worker_addresses(client: Client) -> set[str]:
    return set(client.scheduler_info()["workers"])


class _Events:
    """The stage events the cluster's tasks publish (``PROGRESS_TOPIC``), as they arrive."""

    def __init__(self, client: Client) -> None:
        self.seen: list[dict[str, Any]] = []
        self._changed = threading.Condition()
        client.subscribe_topic(PROGRESS_TOPIC, self._heard)

    def _heard(self, event: tuple[float, dict[str, Any]]) -> None:
        with self._changed:
            self.seen.append(event[1])
            self._changed.notify_all()

    def wait_for(self, stage: str, event: str = "start") -> dict[str, Any]:
        deadline = time.monotonic() + EVENT_TIMEOUT_S
        with self._changed:
            while True:
                for msg in self.seen:
                    if msg["stage"] == stage and msg["event"] == event:
                        return msg
                left = deadline - time.monotonic()
                assert left > 0, f"no {stage} {event} event in {EVENT_TIMEOUT_S} s: {self.seen}"
                self._changed.wait(left)


def test_three_bundles_cold_then_warm_match_a_local_run(cluster: Cluster, tmp_path: Path) -> None:
    bundles = _bundles(tmp_path)
    report = tmp_path / "registry.html"
    given = [*bundles[:2], bundles[2].as_uri()]  # the third as a URL: fsspec copies it
    cold = run_cli(
        "verify", *given, "--scheduler", cluster.address, "--json", "--report", report,
        env=cluster.env, cwd=tmp_path, timeout=CLI_TIMEOUT_S,
    )  # fmt: skip
    assert cold.code == 0, cold.stdout + cold.stderr
    rows = _rows(cold.stdout)
    assert sorted(rows) == ["model-1", "model-2", "model-3"]
    assert rows["model-3"]["bundle"] == bundles[2].as_uri()
    workers = _worker_addresses(cluster.client)
    for row in rows.values():
        assert row["status"] == "identical", row["summary"]
        assert row["worker"]["address"] in workers
        assert row["worker"]["host"] == socket.gethostname()
    assert sum(1 for r in rows.values() if r["report"]["reused_env"]) >= 1
    page = report.read_text(encoding="utf-8")
    assert "3 verified" in page and f"on {socket.gethostname()} (tcp://127.0.0.1:" in page

    # warm: the variable instead of the flag, the text table names the worker
    warm = run_cli(
        "verify", *bundles, env={**cluster.env, "DASK_SCHEDULER_ADDRESS": cluster.address},
        cwd=tmp_path, timeout=CLI_TIMEOUT_S,
    )  # fmt: skip
    assert warm.code == 0, warm.stdout + warm.stderr
    header = warm.stdout.splitlines()[0].split()
    assert header[-1] == "worker" and "3/3 verified" in warm.stdout
    assert warm.stdout.count("tcp://127.0.0.1:") == 3

    # the same verdicts as a local run over the same cache
    local = run_cli("verify", *bundles, "--json", env=cluster.env, cwd=tmp_path)
    assert local.code == 0, local.stdout + local.stderr
    local_rows = _rows(local.stdout)
    for name, row in rows.items():
        assert "worker" not in local_rows[name]
        for key in ("status", "exit_code", "python", "versions"):
            assert local_rows[name][key] == row[key], (name, key)


def test_a_worker_killed_while_building_loses_no_bundle(cluster: Cluster, tmp_path: Path) -> None:
    bundles = _bundles(tmp_path)
    events = _Events(cluster.client)
    cli = subprocess.Popen(
        [*VERIFY, *map(str, bundles), "--json", "--scheduler", cluster.address],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cluster.env,
        cwd=tmp_path,
    )
    try:
        building = events.wait_for("build")
        # the half-built env's marker: the worker is inside the build (it holds the lock,
        # so no other worker can finish or remove that env before the kill)
        deadline = time.monotonic() + EVENT_TIMEOUT_S
        while not list(cluster.cache.rglob(INCOMPLETE_MARKER)):
            assert time.monotonic() < deadline, "the build never created its prefix"
            time.sleep(0.05)
        os.kill(building["pid"], signal.SIGKILL)
        out, err = cli.communicate(timeout=CLI_TIMEOUT_S)
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
    assert cli.returncode == 0, out + err
    rows = _rows(out)
    assert sorted(rows) == ["model-1", "model-2", "model-3"]
    for row in rows.values():
        assert row["status"] == "identical", row["summary"]
    interrupted = rows[f"model-{building['number']}"]
    assert interrupted["worker"]["address"] != building["worker"], "it was not run again"
    assert not list(cluster.cache.rglob(INCOMPLETE_MARKER))


def test_ctrl_c_cancels_this_runs_tasks(cluster: Cluster, tmp_path: Path) -> None:
    bundles = _bundles(tmp_path)
    events = _Events(cluster.client)
    cli = subprocess.Popen(
        [*VERIFY, *map(str, bundles), "--scheduler", cluster.address],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cluster.env,
        cwd=tmp_path,
    )
    try:
        events.wait_for("task")
        cli.send_signal(signal.SIGINT)
        out, err = cli.communicate(timeout=CLI_TIMEOUT_S)
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
    assert cli.returncode == 130, out + err
    assert "interrupted" in err.splitlines()[-1]

    def ours(dask_scheduler: Any) -> list[str]:
        return [str(k) for k in dask_scheduler.tasks if str(k).startswith(TASK_KEY_PREFIX)]

    deadline = time.monotonic() + STOP_GRACE_S
    while (left := cluster.client.run_on_scheduler(ours)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert left == [], f"tasks of the interrupted run still on the scheduler: {left}"


def test_unreachable_scheduler_is_one_line_in_bounded_time(tmp_path: Path) -> None:
    address = f"tcp://127.0.0.1:{_free_port()}"  # nothing listens there
    started = time.monotonic()
    result = run_cli("verify", EXAMPLE_BUNDLE, "--scheduler", address, cwd=tmp_path)
    took = time.monotonic() - started
    assert result.code == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"rebuild-env: error: cannot reach the Dask scheduler at {address}")
    assert took < CONNECT_TIMEOUT_S + 20, took


def test_not_an_address_is_refused_at_once(tmp_path: Path) -> None:
    result = run_cli("verify", EXAMPLE_BUNDLE, "--scheduler", "no-port-here", cwd=tmp_path)
    assert result.code == 2
    assert "is not a scheduler address" in result.stderr
