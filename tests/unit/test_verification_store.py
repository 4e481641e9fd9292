"""Earlier verifications kept in a cached environment, one per bundle that shares it."""

from __future__ import annotations

from pathlib import Path

from rebuild_env.verify.fingerprint import EnvFingerprint
from rebuild_env.verify.runner import ProbeResult
from rebuild_env.verify.store import VERIFIED_FILE, earlier_verification, store_verification

ENV = EnvFingerprint({"numpy": "2.4.6"}, {"lib/python3.11/site-packages/numpy": "0123"})


def test_bundles_sharing_an_environment_keep_their_own_verification(tmp_path: Path) -> None:
    first = ProbeResult(level="identical", python="3.11.7", comparison={"equal_rows": 150})
    second = ProbeResult(level="predicts", python="3.11.7", input="generated")
    store_verification(tmp_path, "key-of-bundle-1", first, ENV)
    store_verification(tmp_path, "key-of-bundle-2", second, ENV)

    found_first = earlier_verification(tmp_path, "key-of-bundle-1")
    found_second = earlier_verification(tmp_path, "key-of-bundle-2")
    assert found_first is not None and found_first.result.level == "identical"
    assert found_first.result.comparison == {"equal_rows": 150} and found_first.at
    assert found_second is not None and found_second.result.input == "generated"
    assert earlier_verification(tmp_path, "another-key") is None
    assert [p.name for p in tmp_path.iterdir()] == [VERIFIED_FILE]  # no temporary file left


def test_unreadable_or_old_style_record_means_the_probe_runs_again(tmp_path: Path) -> None:
    (tmp_path / VERIFIED_FILE).write_text('{"key": "k", "result": {"level": "identical"}}')
    assert earlier_verification(tmp_path, "k") is None
    (tmp_path / VERIFIED_FILE).write_text("{not json")
    assert earlier_verification(tmp_path, "k") is None
    store_verification(tmp_path, "k", ProbeResult(level="loads"), ENV)
    found = earlier_verification(tmp_path, "k")
    assert found is not None and found.result.level == "loads" and found.fingerprint == ENV


def test_a_read_only_environment_only_loses_the_shortcut(tmp_path: Path) -> None:
    missing = tmp_path / "gone"
    store_verification(missing, "k", ProbeResult(level="identical"), ENV)
    assert earlier_verification(missing, "k") is None
