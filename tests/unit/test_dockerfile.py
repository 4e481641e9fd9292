"""--emit dockerfile: the Dockerfile references only files written next to it."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.conftest import EXAMPLE_BUNDLE, run_cli


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
