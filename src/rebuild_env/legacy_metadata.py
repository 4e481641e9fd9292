"""Releases whose metadata modern resolvers reject, described to uv again.

Old releases declare requirements that PEP 440 no longer accepts (pandas 0.20-0.24:
``pytz (>=2011k)``); uv refuses the whole release. uv lets a project state a release's
metadata itself (``dependency-metadata``): the release's own ``Requires-Dist`` lines, each
invalid version clause left out (and said so), so the release resolves as it did in its time.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from email.parser import HeaderParser

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, Specifier

# uv: "Because pandas==0.23.4 has invalid metadata and ..."
_INVALID = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+) has invalid metadata")
# "pytz (>=2011k)" / "pytz>=2011k; python_version < '3'": name, optional extras, the rest.
_LEGACY = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*\(?([^;)]*)\)?\s*(;.*)?$")


@dataclass(frozen=True)
class DependencyMetadata:
    """One release's requirements as stated to uv, and what was changed to state them."""

    name: str
    version: str
    requires_dist: tuple[str, ...]
    requires_python: str = ""
    repaired: tuple[str, ...] = ()
    """The original lines that had to be rewritten (``pytz (>=2011k)``)."""


def invalid_release(output: str) -> tuple[str, str] | None:
    """``(name, version)`` of the release uv refused for its metadata, if that is the cause."""
    match = _INVALID.search(output)
    return (match.group(1), match.group(2)) if match else None


def _repair(line: str) -> str | None:
    """A requirement line packaging accepts: invalid version clauses left out."""
    try:
        return str(Requirement(line))
    except InvalidRequirement:
        pass
    match = _LEGACY.match(line)
    if match is None:
        return None
    name, extras, spec, marker = match.groups()
    kept = []
    for clause in (spec or "").split(","):
        try:
            kept.append(str(Specifier(clause.strip())))
        except InvalidSpecifier:
            continue
    text = f"{name}{extras or ''}{','.join(kept)}{' ' + marker if marker else ''}"
    try:
        return str(Requirement(text))
    except InvalidRequirement:
        return None


def describe(name: str, version: str, metadata: str) -> DependencyMetadata | None:
    """The release's ``METADATA`` text as uv dependency metadata (``None`` if unusable)."""
    headers = HeaderParser().parsestr(metadata)
    requires: list[str] = []
    repaired: list[str] = []
    for line in headers.get_all("Requires-Dist") or []:
        fixed = _repair(line)
        if fixed is None:
            return None
        requires.append(fixed)
        try:
            Requirement(line)
        except InvalidRequirement:
            repaired.append(line.strip())
    return DependencyMetadata(
        name=name,
        version=version,
        requires_dist=tuple(requires),
        requires_python=str(headers.get("Requires-Python") or ""),
        repaired=tuple(repaired),
    )


def _toml_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def uv_config(entries: Sequence[DependencyMetadata]) -> str:
    """A ``uv.toml`` (``--config-file``) stating these releases' metadata."""
    blocks = []
    for entry in entries:
        requires = ", ".join(_toml_string(r) for r in entry.requires_dist)
        block = [
            "[[dependency-metadata]]",
            f"name = {_toml_string(entry.name)}",
            f"version = {_toml_string(entry.version)}",
            f"requires-dist = [{requires}]",
        ]
        if entry.requires_python:
            block.append(f"requires-python = {_toml_string(entry.requires_python)}")
        blocks.append("\n".join(block))
    return "\n\n".join(blocks) + "\n"
