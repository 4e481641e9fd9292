"""One copy of how a rebuild runs: its options (no shared timing), the target platform
and wheel tags, the `uv pip compile` command."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from rebuild_env import target
from rebuild_env.options import Options
from rebuild_env.rebuild import rebuild
from tests.conftest import EXAMPLE_BUNDLE


def test_each_rebuild_times_its_own_stages(tmp_path: Path) -> None:
    """One Options serves many calls (verify's threads): the stage timings of one call
    are neither the Options' dict nor another call's."""
    options = Options(dry_run=True, out=tmp_path / "out")
    first = rebuild(EXAMPLE_BUNDLE, options)
    second = rebuild(EXAMPLE_BUNDLE, options)
    assert {"read", "scan", "plan", "write"} <= set(first.seconds)
    assert first.seconds is not second.seconds
    assert options.seconds == {}
    first.seconds.clear()
    assert {"read", "scan", "plan", "write"} <= set(second.seconds)


def test_options_has_no_shared_default() -> None:
    assert Options().seconds is not Options().seconds
    assert Options() == Options(seconds={"read": 1.0})  # timings are no part of the options


@pytest.mark.parametrize(("platform", "expected"), [("linux", "linux"), ("darwin", "darwin")])
def test_compile_resolves_for_this_platform(
    monkeypatch: pytest.MonkeyPatch, platform: str, expected: str
) -> None:
    """The compare candidate once resolved for linux on every platform."""
    monkeypatch.setattr(sys, "platform", platform)
    args = target.compile_args(
        "uv", Path("in.txt"), python_version="3.11", interpreter=None, outfile=Path("out.txt")
    )
    at = args.index("--python-platform")
    assert args[at + 1] == expected
    assert args[args.index("-o") + 1] == Path("out.txt")


def test_wheel_tags_include_the_interpreter() -> None:
    """``cp311-none-any`` wheels install on CPython 3.11 (two copies left them out)."""
    tags = {str(t) for t in target.wheel_tags("3.11.4")}
    assert "cp311-none-any" in tags and "py3-none-any" in tags
    assert not any(t.startswith("cp312-") for t in tags)
