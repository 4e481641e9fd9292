"""Exit codes of a report: exit 0 only when the model loaded and predicted."""

from __future__ import annotations

import platform
from pathlib import Path

import pytest

from rebuild_env.errors import ExitCode
from rebuild_env.pins import ModelSpec, PythonRecord, RecordedEnv
from rebuild_env.report import Report
from rebuild_env.resolve import make_plan
from rebuild_env.verify.runner import ProbeError, ProbeResult


def _plan():  # type: ignore[no-untyped-def]
    recorded = RecordedEnv(
        bundle_dir=Path("b"),
        format="manifest",
        model=ModelSpec(Path("b/model.joblib")),
        pins=(),
        python=PythonRecord(platform.python_version(), "bundle.yaml"),
    )
    return make_plan(recorded, resolve=False)


@pytest.mark.parametrize(
    ("status", "code"),
    [
        ("identical", ExitCode.OK),
        ("within-tolerance", ExitCode.OK),
        ("predicts", ExitCode.OK),
        ("loads", ExitCode.LOADS_ONLY),
        ("failed", ExitCode.MODEL_FAILED),
        ("differs", ExitCode.PREDICTIONS_DIFFER),
        ("refused", ExitCode.UNSAFE_MODEL),
        ("timeout", ExitCode.VERIFY_TIMEOUT),
    ],
)
def test_only_a_model_that_predicts_exits_zero(status: str, code: ExitCode) -> None:
    report = Report(plan=_plan(), status=status, probe=ProbeResult(level=status))
    assert report.exit_code == code
    assert report.to_json()["exit_code"] == int(code)


def test_loads_only_says_why_and_is_not_ok() -> None:
    probe = ProbeResult(
        level="predicts",
        input="generated",
        error=ProbeError(stage="predict", type="ValueError", message="ValueError: bad shape"),
    )
    report = Report(plan=_plan(), status="loads", probe=probe)
    assert report.exit_code == ExitCode.LOADS_ONLY != ExitCode.OK
    assert "ValueError: bad shape" in report.headline()
    assert report.render_text().splitlines()[-1].startswith("LOADS")
