"""How a rebuild runs: its ``Options``, the ``Progress`` callback and stage timing.

A leaf: it imports nothing of rebuild-env, so every stage (and every command) can take
these without pulling in the flow that uses them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

PROBE_TIMEOUT_S = 600.0
"""Seconds the probe may take unless told otherwise (``--timeout``)."""

Progress = Callable[[str, str], None]
"""Called with (stage, event): event is ``start`` or ``done``."""


def quiet(stage: str, event: str) -> None:
    """The default progress callback: say nothing."""


@contextmanager
def stage(name: str, progress: Progress, seconds: dict[str, float]) -> Iterator[None]:
    """Announce a stage to ``progress`` and record how long it took in ``seconds``."""
    progress(name, "start")
    started = time.perf_counter()
    yield
    seconds[name] = time.perf_counter() - started
    progress(name, "done")


@dataclass(frozen=True)
class Options:
    """How to rebuild (the CLI's flags)."""

    backend: str = "venv"
    prefix: Path | None = None
    out: Path | None = None
    python: str | None = None
    force: bool = False
    dry_run: bool = False
    format: str | None = None
    model: Path | None = None
    tolerance: dict[str, float] | None = None
    timeout: float = PROBE_TIMEOUT_S
    trust: bool = False
    allow_modules: tuple[str, ...] = ()
    trust_code: bool = False
    """``--trust-code``: import the author's own modules the model needs (after review)."""
    code_paths: tuple[Path, ...] = ()
    """``--code-path``: folders (or files) searched first for those modules."""
    resolve: bool = True
    prefer_recorded: bool = False
    no_cache: bool = False
    reverify: bool = False
    """Run the probe even when this env already verified this exact model and sample."""
    dockerfile_dir: Path | None = None
    """``--emit dockerfile DIR``: also write a Dockerfile that rebuilds and verifies."""
    channels: tuple[str, ...] = ()
    """Conda channels (``--channel``), highest priority first; default: the environment's."""
    conda_exe: str | None = None
    """``--conda-exe``: install the conda packages with this conda/mamba/micromamba."""
    offline: bool = False
    """``--offline``: plan from the bundle's pack record and install only its artifacts."""
    sandbox: bool = True
    """Run the probe in the OS sandbox (``--no-sandbox``: without it)."""
    exact: bool = False
    """``--exact``: only bit-identical outputs pass (floating-point noise is a difference)."""
    explain: bool = False
    """``--explain``: outputs that are not identical are probed under each BLAS kernel this
    CPU can run, to name the one that computed them."""
    pin_kernel: bool = False
    """``--pin-kernel``: the env's activation, ``run`` and the Dockerfile set the recorded
    BLAS kernel too (the probe always runs with it)."""
    seconds: dict[str, float] = field(default_factory=dict, compare=False, repr=False)
    """Seconds per stage of one call: ``rebuild()`` starts each call with a fresh dict (one
    ``Options`` is shared by the threads of ``verify``), and the report gets a copy."""

    @property
    def probes_warm(self) -> bool:
        """Whether a cache hit's probe may start before the plan is known: not for a dry
        run, a build without the cache, an explicit ``--prefix``, or ``--force`` (the env
        is rebuilt at the same path: a probe started in the old one would import from
        files being moved away)."""
        return not (self.dry_run or self.no_cache or self.force or self.prefix is not None)
