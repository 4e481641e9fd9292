"""``verify --jobs N`` on a fresh interpreter: the workers' first calls race on sysconfig.

Seen as ``internal error: TypeError: can only concatenate str (not "NoneType") to str``
(3 runs in 18): uv's ``find_uv_bin`` reads ``sysconfig.get_config_var("EXE")`` while
another worker is still filling sysconfig's variables. Each run here is a new interpreter
(nothing warmed yet) whose workers reach ``uv_binary`` together, as two bundles of a fresh
cache do when they start building.
"""

from __future__ import annotations

import subprocess
import sys

RUNS = 12
JOBS = 4
SCRIPT = f"""
import threading
from pathlib import Path
from rebuild_env import batch, interpreters
from rebuild_env.rebuild import Options

barrier = threading.Barrier({JOBS})

def rebuild(bundle, options):
    barrier.wait()  # every worker reaches the venv backend's first uv lookup at once
    interpreters.uv_binary()
    raise RuntimeError("stop here")

batch.rebuild = rebuild
rows = batch.verify_all([Path(str(i)) for i in range({JOBS})], Options(), jobs={JOBS})
print("\\n".join(row.summary for row in rows))
"""


def test_parallel_workers_do_not_race_on_sysconfig() -> None:
    for _ in range(RUNS):
        done = subprocess.run(
            [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True
        )
        summaries = done.stdout.splitlines()
        assert summaries == ["internal error: RuntimeError: stop here"] * JOBS, done.stdout
