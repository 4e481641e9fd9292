"""``rebuild-env compare`` through the real command line on the example bundle: a release
that predicts identically, the JSON document, the bad-input lines, and Ctrl-C."""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import pytest
import yaml

from rebuild_env.backends.base import INCOMPLETE_MARKER, is_complete
from rebuild_env.errors import ExitCode
from tests.conftest import EXAMPLE_BUNDLE, run_cli
from tests.integration.interruptible import CliRun, still_running
from tests.json_contract import COMPARE_KEYS, assert_valid, one_document

pytestmark = [pytest.mark.slow, pytest.mark.network]

# The example bundle records scikit-learn 1.9.1 on Python 3.11; 1.8.0 has wheels for 3.11.
CANDIDATE = "scikit-learn==1.8.0"


def test_an_identical_release_exits_0_with_every_output_compared(tmp_path: Path) -> None:
    done = run_cli("compare", EXAMPLE_BUNDLE, "--upgrade", CANDIDATE, "--out", tmp_path, "--json")
    assert done.code == ExitCode.OK, done.stderr
    doc = one_document(done.stdout)
    assert set(doc) == COMPARE_KEYS
    assert_valid(doc, "compare")
    verdict = doc["verdict"]
    assert verdict["status"] == "identical"
    assert verdict["versions"] == {"scikit-learn": "1.8.0"}
    assert doc["reference"]["packages"]["scikit-learn"] == "1.9.1"
    assert doc["reference"]["sandbox"]["filesystem"] is True  # both probes ran confined
    # predict and predict_proba, on the recorded sample (150 rows) and on the larger input
    outputs = {o["output"]: o for o in verdict["outputs"]}
    assert set(outputs) == {
        "predict on the recorded sample",
        "predict_proba on the recorded sample",
        "predict on the larger input",
        "predict_proba on the larger input",
    }
    assert outputs["predict on the recorded sample"]["rows"] == 150
    assert outputs["predict_proba on the larger input"]["shape"] == [1000, 3]
    assert all(o["identical"] for o in outputs.values())
    # the version warning of an older scikit-learn is listed, and does not decide
    assert any("1.9.1" in w for w in verdict["version_warnings"])
    assert [c["name"] for c in verdict["changes"]] == ["scikit-learn"]
    # the candidate's spec files are written for reuse
    assert (tmp_path / "candidate-scikit-learn-1.8.0" / "requirements.txt").is_file()

    text = run_cli("compare", EXAMPLE_BUNDLE, "--upgrade", CANDIDATE, "--out", tmp_path, "-q")
    assert text.code == ExitCode.OK
    assert "predict_proba on the larger input" in text.stdout
    assert "identical (1000 rows)" in text.stdout
    assert "sandbox    landlock" in text.stdout
    assert "[env reused]" in text.stdout  # the second run builds nothing
    # ... and probes only the candidate: the reference's outputs were kept in its env
    assert "reference  outputs computed at" in text.stdout
    saved = Path(doc["reference"]["prefix"]) / "rebuild-env-outputs"
    assert [p.name for p in saved.iterdir() if (p / "probe.json").is_file()]

    again = run_cli(
        "compare", EXAMPLE_BUNDLE, "--upgrade", CANDIDATE, "--out", tmp_path, "--json", "--reverify"
    )
    assert again.code == ExitCode.OK, again.stderr
    again_doc = one_document(again.stdout)
    assert again_doc["reference"]["outputs_saved_at"] is None  # probed again
    assert again_doc["verdict"]["status"] == "identical"

    # the cache listing tells the candidate from the reference
    listed = one_document(run_cli("cache", "list", "--json").stdout)
    roles = {row["path"]: row["role"] for row in listed["environments"]}
    assert roles[doc["reference"]["prefix"]] == "reference"
    assert roles[verdict["prefix"]] == "candidate"
    assert "(compare candidate)" in run_cli("cache", "list").stdout


@pytest.mark.parametrize(
    ("upgrade", "code", "words"),
    [
        ("no-such-dist-rebuild-env==1.0", ExitCode.BAD_INPUT, "no such distribution"),
        ("scikit-learn==0.0.7", ExitCode.BAD_INPUT, "no such release"),
        ("scikit-learn==0.20.0", ExitCode.CANNOT_RESOLVE, "cannot be installed for Python"),
        ("scikit-learn==", ExitCode.BAD_INPUT, "is not a requirement"),
    ],
)
def test_bad_upgrades_get_one_line_and_their_exit_code(
    tmp_path: Path, upgrade: str, code: int, words: str
) -> None:
    done = run_cli("compare", EXAMPLE_BUNDLE, "--upgrade", upgrade, "--out", tmp_path)
    assert done.code == code, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("rebuild-env: error")]
    assert len(lines) == 1 and words in lines[0], done.stderr
    assert "Traceback" not in done.stderr


def test_nothing_to_search_is_one_line(tmp_path: Path) -> None:
    done = run_cli(
        "compare", EXAMPLE_BUNDLE, "--upgrade", "scikit-learn>99", "--newest-identical",
        "--out", tmp_path, "--json",
    )  # fmt: skip
    assert done.code == ExitCode.BAD_INPUT
    doc = one_document(done.stdout)
    assert_valid(doc, "error")
    assert "no release of scikit-learn newer than 1.9.1" in doc["error"]


def test_ctrl_c_while_building_the_candidate_leaves_the_cache_consistent(tmp_path: Path) -> None:
    cache, work = tmp_path / "cache", tmp_path / "tmp"
    work.mkdir()
    env = {**os.environ, "REBUILD_ENV_CACHE_DIR": str(cache), "TMPDIR": str(work)}
    cold = {**env, "UV_CACHE_DIR": str(tmp_path / "uv-cache")}  # the install takes seconds
    args = ("compare", EXAMPLE_BUNDLE, "--upgrade", CANDIDATE, "--out", tmp_path / "out")
    run = CliRun.start(*args, env=cold)
    run.wait_until(
        lambda: any(line.startswith("rebuild-env: candidate") for line in run.lines),
        "the candidate stage",
        timeout=300,
    )
    run.wait_for_child("pip install", timeout=120)
    run.linger(0.5)
    took = run.signal(signal.SIGINT, timeout=60)

    assert run.proc.returncode == ExitCode.INTERRUPTED, run.stderr
    assert took < 10, f"took {took:.1f} s to stop"
    assert "Traceback" not in run.stderr
    assert still_running(run.seen) == []
    envs = [p for p in (cache / "envs").iterdir() if not p.name.startswith(".")]
    assert envs and all(is_complete(p) for p in envs)  # the reference; no half candidate
    assert not any((p / INCOMPLETE_MARKER).exists() for p in envs)
    assert [p.name for p in work.iterdir() if p.name.startswith("rebuild-env")] == []

    again = run_cli(*args, "-q", env=env)
    assert again.code == ExitCode.OK, again.stderr


def test_without_a_recorded_sample_both_probes_predict_on_the_same_generated_rows(
    tmp_path: Path,
) -> None:
    bundle = tmp_path / "no-sample"
    shutil.copytree(EXAMPLE_BUNDLE, bundle)
    manifest = yaml.safe_load((bundle / "bundle.yaml").read_text())
    del manifest["sample"]
    (bundle / "bundle.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    for name in ("sample_input.npy", "sample_output.npy"):
        (bundle / name).unlink()
    done = run_cli("compare", bundle, "--upgrade", CANDIDATE, "--out", tmp_path / "o", "--json")
    assert done.code == ExitCode.OK, done.stderr
    outputs = {o["output"]: o for o in one_document(done.stdout)["verdict"]["outputs"]}
    assert set(outputs) == {"predict on a generated input", "predict_proba on a generated input"}
    assert outputs["predict_proba on a generated input"]["shape"] == [1000, 3]
    assert all(o["identical"] for o in outputs.values())


def test_options_compare_cannot_honour_are_refused(tmp_path: Path) -> None:
    done = run_cli(
        "compare", EXAMPLE_BUNDLE, "--upgrade", CANDIDATE, "--emit", "dockerfile", tmp_path
    )
    assert done.code == ExitCode.BAD_INPUT
    assert "compare does not emit a Dockerfile" in done.stderr
    assert not any(tmp_path.iterdir())
