"""Reading uv's error output: the one line a user needs from its explanation.

uv explains a failure as a chain of ``cause:`` lines, or as resolver steps (``Because X
depends on Y ... we can conclude``). The resolver (``uv pip compile``) and the installers
(``uv pip install``, pip) both report through these helpers.
"""

from __future__ import annotations


def causes(output: str) -> list[str]:
    """Non-empty lines with uv's ``cause:`` / ``╰─▶`` decoration removed."""
    return [
        line.strip().removeprefix("cause:").strip().removeprefix("╰─▶ ").strip()
        for line in output.splitlines()
        if line.strip()
    ]


def unreachable(output: str) -> str:
    """``URL, which cannot be reached (why)`` when uv failed to fetch something, else ``""``."""
    lines = causes(output)
    url = next(
        (
            c.removeprefix("Failed to fetch:").strip()
            for c in lines
            if c.startswith("Failed to fetch:")
        ),
        "",
    )
    return f"{url}, which cannot be reached ({lines[-1]})" if url else ""


def resolver_steps(output: str) -> list[str]:
    """The resolver's ``Because ...`` steps, each cut before its conclusion."""
    return [
        line.split(", we can conclude")[0]
        .split(" and only the following")[0]
        .removeprefix("And ")
        .removeprefix("because ")
        for line in causes(output)
        if line.startswith(("Because ", "And because "))
    ]


def first_cause(output: str) -> str:
    """The first step of uv's explanation (``Because X depends on Y``), else its last line."""
    steps = resolver_steps(output)
    return steps[0] if steps else last_line(output)


def install_cause(output: str) -> str:
    """An installer's reason in one line: the resolver's first and last step, the URL it
    could not fetch and why, or its last error line; ``""`` when it said nothing useful."""
    steps = resolver_steps(output)
    if steps:
        return "; ".join(dict.fromkeys((steps[0], steps[-1]))).removeprefix("Because ")
    if fetched := unreachable(output):
        return fetched
    errors = [line for line in causes(output) if line.lower().startswith("error:")]
    return errors[-1].split(":", 1)[-1].strip() if errors else ""


def last_line(output: str) -> str:
    """The last line that is not a hint or warning, without its ``error:`` prefix."""
    lines = causes(output)
    useful = [line for line in lines if not line.startswith(("hint:", "warning:"))]
    return (useful or lines or ["no details"])[-1].removeprefix("error: ")
