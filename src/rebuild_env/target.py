"""What a plan is resolved for: the platform and the wheel tags of the target interpreter,
and the ``uv pip compile`` command line that asks for them.

One implementation for the reference plan (:mod:`.resolve`), the ``compare`` candidate, the
conda backend's pip section and ``pack``: copies of these had drifted (the candidate
resolved for ``linux`` on every platform; two tag sets left out ``cpXY-none-any``).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Sequence
from pathlib import Path

from packaging.tags import Tag, compatible_tags, cpython_tags, platform_tags
from packaging.version import Version

LINUX = "linux"


def python_platform() -> str:
    """``uv pip compile --python-platform``: this machine's (``linux`` for any Linux)."""
    return LINUX if sys.platform.startswith(LINUX) else sys.platform


@functools.cache
def wheel_tags(python_version: str) -> tuple[Tag, ...]:
    """The wheel tags a CPython of ``python_version`` accepts on this machine, most
    preferred first (``cpXY-none-any`` included)."""
    release = Version(python_version).release
    version = (release[0], release[1])
    platforms = list(platform_tags())
    interpreter = f"cp{version[0]}{version[1]}"
    return (
        *cpython_tags(version, platforms=platforms),
        *compatible_tags(version, interpreter, platforms),
    )


@functools.cache
def tags_for(python_version: str) -> frozenset[Tag]:
    """:func:`wheel_tags` as a set, for membership tests."""
    return frozenset(wheel_tags(python_version))


def compile_args(
    uv: str | Path,
    infile: Path,
    *,
    python_version: str,
    interpreter: str | Path | None,
    outfile: Path | None = None,
    constraints: Path | None = None,
    exclude_newer: str = "",
    config: Path | None = None,
    only_binary: Sequence[str] = (),
) -> list[str | Path]:
    """The ``uv pip compile`` command that resolves ``infile`` for the target Python.

    ``interpreter``: named so that uv does not go looking for one (probing pyenv shims on
    PATH costs it ~10 s); only its version is overridden. ``outfile``: uv updates that file,
    keeping its versions wherever they still fit.
    """
    args: list[str | Path] = [uv, "pip", "compile", infile]
    if outfile is not None:
        args += ["-o", outfile]
    args += [
        "--python-version",
        python_version,
        "--python",
        interpreter or sys.executable,
        "--no-header",
        "--no-annotate",
        "--quiet",
    ]
    if constraints is not None:
        args += ["-c", constraints]
    args += ["--python-platform", python_platform()]
    if exclude_newer:
        args += ["--exclude-newer", exclude_newer]
    if config is not None:
        args += ["--config-file", config]
    for name in only_binary:
        args += ["--only-binary", name]
    return args
