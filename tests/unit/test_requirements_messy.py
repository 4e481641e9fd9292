"""The pip freeze people actually hand over: each messy line and what it becomes."""

from __future__ import annotations

from pathlib import Path

import pytest

from rebuild_env.bundle.formats.requirements import parse_requirements
from rebuild_env.bundle.reader import read_bundle
from rebuild_env.errors import BundleError
from rebuild_env.pins import IndexOptions, Pin
from tests.conftest import FIXTURES

REQUIREMENTS = FIXTURES / "formats" / "requirements"


@pytest.fixture(scope="module")
def messy() -> tuple[dict[str, Pin], list[str], IndexOptions]:
    parsed = parse_requirements(REQUIREMENTS / "messy-freeze.txt")
    return {p.name: p for p in parsed.pins}, parsed.notes, parsed.index


def test_hash_lines_keep_every_hash(messy: tuple[dict[str, Pin], list[str], IndexOptions]) -> None:
    pins, _, _ = messy
    assert pins["numpy"].specifier == "==1.26.4"
    assert pins["numpy"].hashes == ("sha256:aaaa1111", "sha256:bbbb2222")


def test_missing_local_wheel_becomes_its_index_version_with_a_warning(
    messy: tuple[dict[str, Pin], list[str], IndexOptions],
) -> None:
    pins, notes, _ = messy
    assert pins["scikit-learn"] == Pin(
        name="scikit-learn", specifier="==1.3.2", source="messy-freeze.txt:8"
    )
    assert any("scikit_learn-1.3.2" in n and "from the index" in n for n in notes)


def test_local_build_dir_without_version_is_left_unpinned_with_a_warning(
    messy: tuple[dict[str, Pin], list[str], IndexOptions],
) -> None:
    pins, notes, _ = messy
    assert pins["mypkg"].specifier == "" and pins["mypkg"].url == ""
    assert any("mypkg points at a local path" in n for n in notes)


def test_reachable_url_is_kept_as_is(messy: tuple[dict[str, Pin], list[str], IndexOptions]) -> None:
    pins, _, _ = messy
    assert pins["requests"].url.startswith("https://github.com/psf/requests/")
    assert pins["requests"].requirement().startswith("requests @ https://")


def test_vcs_references_are_kept(messy: tuple[dict[str, Pin], list[str], IndexOptions]) -> None:
    pins, notes, _ = messy
    assert pins["proj"].url == "git+https://github.com/org/proj.git@abc123"
    assert pins["tool"].url == "git+https://github.com/org/tool.git@0123456789abcdef"
    assert any("proj comes from version control" in n for n in notes)


def test_marker_for_another_platform_is_kept_for_the_resolver(
    messy: tuple[dict[str, Pin], list[str], IndexOptions],
) -> None:
    pins, _, _ = messy
    assert pins["pywin32"].marker == 'sys_platform == "win32"'


def test_nameless_vcs_url_and_editable_dot_are_dropped_with_a_reason(
    messy: tuple[dict[str, Pin], list[str], IndexOptions],
) -> None:
    pins, notes, _ = messy
    assert "pydantic" not in pins
    assert any("without #egg=NAME" in n for n in notes)
    assert any("dropped editable install '.'" in n for n in notes)


def test_index_options_are_honoured(messy: tuple[dict[str, Pin], list[str], IndexOptions]) -> None:
    _, _, index = messy
    assert index == IndexOptions(
        "https://pypi.example.org/simple", ("https://extra.example.org/simple",), ("/opt/wheels",)
    )


@pytest.mark.parametrize("name", ["crlf.txt", "utf16-powershell.txt"])
def test_windows_line_endings_and_utf16(name: str) -> None:
    parsed = parse_requirements(REQUIREMENTS / name)
    assert [(p.name, p.specifier) for p in parsed.pins] == [
        ("numpy", "==1.26.4"),
        ("scikit-learn", "==1.3.2"),
        ("joblib", "==1.3.2"),
    ]
    assert all("\r" not in p.marker for p in parsed.pins)


def test_existing_local_wheel_is_kept(tmp_path: Path) -> None:
    wheel = tmp_path / "demo-1.0-py3-none-any.whl"
    wheel.write_bytes(b"PK\x03\x04")
    req = tmp_path / "requirements.txt"
    req.write_text(f"demo @ {wheel.as_uri()}\n")
    (pin,) = parse_requirements(req).pins
    assert pin.url == wheel.as_uri()


def test_bad_line_names_file_and_line(tmp_path: Path) -> None:
    req = tmp_path / "requirements.txt"
    req.write_text("numpy==1.26.4\nthis is not (a requirement\n")
    with pytest.raises(BundleError) as info:
        parse_requirements(req)
    assert "line 2" in info.value.one_line() and "requirements.txt" in info.value.one_line()


def test_bare_bundle_reads_a_utf16_freeze(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_bytes(
        (REQUIREMENTS / "utf16-powershell.txt").read_bytes()
    )
    (tmp_path / "model.joblib").write_bytes(b"\x80\x04.")
    recorded = read_bundle(tmp_path)
    assert recorded.format == "bare"
    assert recorded.pin("scikit-learn") is not None


def test_a_line_of_random_bytes_is_reported_in_one_line(tmp_path: Path) -> None:
    from rebuild_env.bundle.formats.requirements import parse_requirements
    from rebuild_env.errors import BundleError

    path = tmp_path / "requirements.txt"
    path.write_bytes(bytes(range(128, 256)) * 3)  # no NUL: read as text, not a requirement
    try:
        parse_requirements(path)
    except BundleError as exc:
        line = exc.one_line()
    else:
        raise AssertionError("random bytes were read as requirements")
    assert "\n" not in line and len(line) < 400, line
