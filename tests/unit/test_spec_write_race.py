"""Bundles with the same plan share a spec folder; verify --jobs writes it from several
threads at once: every write must land whole, none may fail on another's temporary file."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rebuild_env.spec._files import write_atomically

WRITERS = 16


def test_concurrent_writes_of_one_spec_file_all_succeed(tmp_path: Path) -> None:
    texts = [f"numpy=={i}\n" * 200 for i in range(WRITERS)]
    with ThreadPoolExecutor(WRITERS) as pool:
        paths = list(pool.map(lambda t: write_atomically(tmp_path, "requirements.txt", t), texts))
    assert set(paths) == {tmp_path / "requirements.txt"}
    assert (tmp_path / "requirements.txt").read_text() in texts  # one whole file
    assert [p.name for p in tmp_path.iterdir()] == ["requirements.txt"]  # no leftovers
