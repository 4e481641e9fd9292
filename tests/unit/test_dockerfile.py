"""--emit dockerfile: the Dockerfile references only files written next to it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import joblib
import numpy as np
import pytest

from tests.conftest import EXAMPLE_BUNDLE, run_cli
from tests.unit.test_conda_solve import RECORDS, make_channel


def test_dockerfile_is_self_contained(tmp_path: Path) -> None:
    out = tmp_path / "docker"
    result = run_cli(
        "plan", EXAMPLE_BUNDLE, "--out", tmp_path / "spec", "--emit", "dockerfile", out
    )
    assert result.code == 0, result.stderr
    text = (out / "Dockerfile").read_text()
    version = re.search(r"^FROM python:(\S+)-slim$", text, re.MULTILINE)
    assert version is not None and version.group(1).count(".") == 2
    for source in re.findall(r"^COPY (?:--\S+ )*(\S+) ", text, re.MULTILINE):
        assert (out / source).exists(), source
    request = json.loads((out / "bundle" / "request.json").read_text())
    for key in ("model", "input", "expected"):
        assert request[key].startswith("/opt/bundle/")
        assert (out / "bundle" / Path(request[key]).name).is_file()
    assert "probe.py" in text and (out / "bundle" / "probe.py").is_file()
    assert "scikit-learn==" in (out / "requirements.txt").read_text()


def test_unknown_emit_kind_is_a_usage_error(tmp_path: Path) -> None:
    result = run_cli("plan", EXAMPLE_BUNDLE, "--out", tmp_path, "--emit", "helm", tmp_path / "x")
    assert result.code == 2 and "--emit dockerfile" in result.stderr


# A conda channel of repodata only (the solver needs no package files): python, numpy,
# joblib and pip, enough for the conda plan of a model file that references numpy.
CONDA_RECORDS = [
    *RECORDS,
    ("joblib", "1.3.2", "pyhd8ed1ab_0", ["python >=3.7"]),
    ("pip", "24.0", "pyhd8ed1ab_0", ["python >=3.7"]),
]


@pytest.mark.network  # the plan's consistency check resolves the pins with uv
def test_conda_dockerfile_uses_micromamba_and_only_its_own_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("tests.unit.test_conda_solve.RECORDS", CONDA_RECORDS)
    channel = make_channel(tmp_path / "channel")
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    joblib.dump(np.arange(3.0), bundle / "model.joblib")
    (bundle / "requirements.txt").write_text("numpy==1.26.4\njoblib==1.3.2\npip==24.0\n")
    (bundle / ".python-version").write_text("3.11.7\n")
    out = tmp_path / "docker"
    result = run_cli(
        "plan", bundle, "--backend", "conda", "-c", channel, "--out", tmp_path / "spec",
        "--emit", "dockerfile", out,
    )  # fmt: skip
    assert result.code == 0, result.stderr
    text = (out / "Dockerfile").read_text()
    assert re.search(r"^FROM mambaorg/micromamba:\d+\.\d+\.\d+$", text, re.MULTILINE), text
    assert (
        "FROM python:" not in text
        and "micromamba install -y -n base -f /tmp/conda-lock.yml" in text
    )
    copied = re.findall(r"^COPY (?:--\S+ )*(\S+) ", text, re.MULTILINE)
    assert copied == ["conda-lock.yml", "bundle/"]
    for source in copied:
        assert (out / source).exists(), source
    lock = (out / "conda-lock.yml").read_text()
    assert "numpy" in lock and "1.26.4" in lock and str(channel) not in text
    # every path the Dockerfile names inside the image is one it copied there
    for path in re.findall(r"/opt/bundle/(\S+?)[\s\"]", text):
        assert (out / "bundle" / path).is_file(), path
    request = json.loads((out / "bundle" / "request.json").read_text())
    assert request["model"] == "/opt/bundle/model.joblib"
    assert (out / "bundle" / "model.joblib").read_bytes() == (bundle / "model.joblib").read_bytes()


def test_trusted_local_code_is_copied_and_the_request_points_at_the_copy(tmp_path: Path) -> None:
    from tests.unit.test_local_code import MODULE, manifest_bundle

    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "my_features.py").write_text(MODULE)
    manifest_bundle(bundle, ["my_features.py"])
    out = tmp_path / "docker"
    args = ("plan", bundle, "--out", tmp_path / "spec", "--emit", "dockerfile", out)
    result = run_cli(*args, "--trust-code")
    assert result.code == 0, result.stderr
    request = json.loads((out / "bundle" / "request.json").read_text())
    assert request["code_paths"] == ["/opt/bundle/code"]
    assert request["local_modules"] == {"my_features": "/opt/bundle/code/my_features.py"}
    assert request["local_globals"] == [["my_features", "AddRatio"]]
    assert (out / "bundle" / "code" / "my_features.py").read_text() == MODULE


def _bundle_with_python(tmp_path: Path, version: str) -> Path:
    import shutil

    bundle = tmp_path / "bundle"
    shutil.copytree(EXAMPLE_BUNDLE, bundle)
    manifest = bundle / "bundle.yaml"
    text = manifest.read_text()
    recorded = re.search(r"^  version: (\S+)$", text, re.MULTILINE)
    assert recorded is not None
    text = text.replace(f"  version: {recorded.group(1)}", f"  version: {version}", 1)
    manifest.write_text(text)
    return bundle


@pytest.mark.parametrize(
    ("recorded", "image", "comment"),
    [
        ("3.11.2", "python:3.11.2-slim", False),  # the recorded patch release, not the local one
        ("3.11", r"python:3\.11(\.\d+)?-slim", True),  # no patch recorded: the plan's, explained
    ],
)
def test_the_image_is_the_recorded_patch_release(
    tmp_path: Path, recorded: str, image: str, comment: bool
) -> None:
    bundle = _bundle_with_python(tmp_path, recorded)
    out = tmp_path / "docker"
    result = run_cli("plan", bundle, "--out", tmp_path / "spec", "--emit", "dockerfile", out)
    assert result.code == 0, result.stderr
    text = (out / "Dockerfile").read_text()
    assert re.search(rf"^FROM {image}$", text, re.MULTILINE), text
    assert ("# Python " in text) == comment
    hashed = "--hash=" in (out / "requirements.txt").read_text()
    assert ("--require-hashes" in text) == hashed
