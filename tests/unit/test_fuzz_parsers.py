"""Fuzzing the bundle parsers: whatever the bytes, only our own errors come out."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rebuild_env.bundle import read_bundle
from rebuild_env.errors import RebuildEnvError
from tests.conftest import EXAMPLE_BUNDLE

REQUIREMENT_PIECES = st.sampled_from(
    [
        "numpy==1.26.4",
        "scikit-learn>=1.0",
        "-r",
        "-c",
        "--hash=sha256:ab",
        "\\",
        "#",
        ";",
        'python_version < "3.8"',
        "@",
        "file:///x/y-1.0-py3-none-any.whl",
        "-e",
        "git+https://h/r",
        "--index-url",
        "[",
        "]",
        "==",
        " ",
        "\n",
        "\r\n",
        "\x00",
        "é",
        "pkg",
        ".",
        "===1",
    ]
)
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _read(files: dict[str, bytes]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        bundle = Path(tmp)
        (bundle / "model.joblib").write_bytes(b"\x80\x04N.")
        for name, data in files.items():
            (bundle / name).write_bytes(data)
        try:
            read_bundle(bundle)
        except RebuildEnvError as exc:
            assert exc.one_line()


@FUZZ
@given(st.lists(REQUIREMENT_PIECES, max_size=30))
def test_requirements_lines(pieces: list[str]) -> None:
    _read({"requirements.txt": "".join(pieces).encode("utf-8", "surrogatepass")})


@FUZZ
@given(st.binary(max_size=400))
def test_requirements_bytes(data: bytes) -> None:
    _read({"requirements.txt": data, ".python-version": data[:20]})


@FUZZ
@given(st.binary(max_size=600))
def test_bundle_yaml_bytes(data: bytes) -> None:
    _read({"bundle.yaml": data})


@FUZZ
@given(st.integers(min_value=0, max_value=10_000), st.binary(min_size=1, max_size=8))
def test_bundle_yaml_mutations(position: int, patch: bytes) -> None:
    text = (EXAMPLE_BUNDLE / "bundle.yaml").read_bytes()
    position %= len(text)
    _read({"bundle.yaml": text[:position] + patch + text[position + len(patch) :]})
