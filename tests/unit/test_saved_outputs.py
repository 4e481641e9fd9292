"""The reference outputs compare keeps in an env: keyed by content, not by paths."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rebuild_env.verify import saved_outputs as so
from rebuild_env.verify.runner import ProbeResult


def _request(tmp: Path, folder: str, larger: bytes = b"rows") -> dict[str, Any]:
    model = tmp / "model.joblib"
    model.write_bytes(b"model")
    work = tmp / folder
    work.mkdir(exist_ok=True)
    (work / "larger.json").write_bytes(larger)
    return {
        "model": str(model),
        "input": None,
        "expected": None,
        "outputs": [
            {
                "name": "predict on the larger input",
                "method": "predict",
                "input": str(work / "larger.json"),
                "file": str(work / "out" / "predict.npy"),
                "optional": False,
            }
        ],
    }


def test_the_key_follows_content_not_where_files_are(tmp_path: Path) -> None:
    first = so.outputs_key(_request(tmp_path, "run-1"))
    assert so.outputs_key(_request(tmp_path, "run-2")) == first
    assert so.outputs_key(_request(tmp_path, "run-3", larger=b"other rows")) != first
    changed = _request(tmp_path, "run-4")
    (tmp_path / "model.joblib").write_bytes(b"another model")  # the model file's content
    assert so.outputs_key(changed) != first


def test_saved_outputs_round_trip_and_stay_bounded(tmp_path: Path) -> None:
    prefix = tmp_path / "env"
    prefix.mkdir()
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    (outputs / "predict.npy").write_bytes(b"npy bytes")
    probe = ProbeResult(level="predicts", python="3.11.7", outputs=({"name": "x", "status": "ok"},))
    assert so.saved_outputs(prefix, "k0") is None
    so.save_outputs(prefix, "k0", probe, outputs)
    found = so.saved_outputs(prefix, "k0")
    assert found is not None
    result, folder, at = found
    assert result.level == "predicts" and result.outputs == probe.outputs
    assert (folder / "predict.npy").read_bytes() == b"npy bytes"
    assert at.endswith("Z")
    for i in range(1, so.KEPT_ENTRIES + 3):
        so.save_outputs(prefix, f"k{i}", probe, outputs)
    kept = list((prefix / so.OUTPUTS_DIR).iterdir())
    assert len(kept) == so.KEPT_ENTRIES
    assert not [p for p in kept if p.name.startswith(".")]  # no temporary left


def test_a_torn_entry_is_not_reused(tmp_path: Path) -> None:
    entry = tmp_path / so.OUTPUTS_DIR / "k"
    entry.mkdir(parents=True)
    (entry / so.RESULT_FILE).write_text("{not json", encoding="utf-8")
    assert so.saved_outputs(tmp_path, "k") is None


def test_saved_outputs_stop_serving_once_the_env_changes(tmp_path: Path) -> None:
    prefix = tmp_path / "env"
    site = prefix / "lib" / "python3.11" / "site-packages"
    (site / "numpy-2.4.6.dist-info").mkdir(parents=True)
    (site / "numpy-2.4.6.dist-info" / "RECORD").write_text("numpy/__init__.py,,\n")
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    (outputs / "predict.npy").write_bytes(b"npy")
    so.save_outputs(prefix, "k", ProbeResult(level="identical"), outputs)
    assert so.saved_outputs(prefix, "k") is not None  # the env as it was: reused
    (site / "numpy-2.4.6.dist-info").rename(site / "numpy-2.0.2.dist-info")  # another numpy
    assert so.saved_outputs(prefix, "k") is None  # probed again, never vouched for
