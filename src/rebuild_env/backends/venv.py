"""The venv backend: ``uv venv`` + ``uv pip install`` (virtualenv + pip when uv is missing).

Why uv creates the venv and not virtualenv: on a warm cache ``uv venv`` takes ~0.1 s where
virtualenv with seeding takes ~0.7-1.9 s, and virtualenv 21 cannot seed targets older than
Python 3.9 at all. pip is still seeded (installed by uv in the same transaction as the
packages) so the user can keep working in the environment with plain pip.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .. import _subprocess, legacy_metadata, uv_output
from ..errors import BuildError
from ..interpreters import uv_binary
from ..plan import Plan
from ..spec import requirements_txt
from .base import Environment, env_python

NAME = "venv"
UV_CONFIG = "uv.toml"
"""Written beside requirements.txt when the plan restates a release's metadata to uv."""
INSTALL_TIMEOUT_S = 1800.0
CREATE_TIMEOUT_S = 300.0


def _install_hint(output: str) -> str:
    if any(sign in output for sign in ("SIGXFSZ", "No space left", "File too large")):
        return (
            "the disk is full or a file size limit (ulimit -f) was hit; "
            "free space or choose another --prefix"
        )
    if "No solution found" in output or "unsatisfiable" in output:
        return "the pins cannot be installed together for this Python; see the plan's warnings"
    if "Failed to fetch" in output or "Connection refused" in output:
        return "check the network and the index URLs (the bundle's --index-url, UV_INDEX_URL)"
    if "Failed to build" in output or "Failed to download" in output:
        return "a package has no wheel for this Python/platform; try --python with another version"
    return "see the installer's output above"


def create_venv(python: Path, prefix: Path, env: dict[str, str], *, uv: str | None) -> None:
    """An empty venv of ``python`` at ``prefix``: ``uv venv``, else virtualenv."""
    if uv is not None:
        _subprocess.run(
            [uv, "venv", "--quiet", "--allow-existing", "--python", python, prefix],
            env=env,
            timeout=CREATE_TIMEOUT_S,
            what="uv venv",
        )
        return
    _subprocess.run(
        [sys.executable, "-m", "virtualenv", "--quiet", "--python", python, prefix],
        env=env,
        timeout=CREATE_TIMEOUT_S,
        what="virtualenv",
    )


class VenvBackend:
    """Build a Plan as a virtual environment."""

    name = NAME
    channels: tuple[str, ...] = ()
    """A venv has no conda channels."""
    last_warnings: tuple[str, ...] = ()
    """Writing a requirements file changes nothing to warn about."""

    def write_specs(self, plan: Plan, out: Path, *, built: Path | None = None) -> tuple[Path, ...]:
        """``requirements.txt`` (cheap to write, so ``built`` is not needed), and ``uv.toml``
        when a release's metadata must be restated to uv (``uv pip install --config-file``)."""
        written = [requirements_txt.write(plan, out)]
        if plan.dependency_metadata:
            config = out / UV_CONFIG
            config.write_text(legacy_metadata.uv_config(plan.dependency_metadata))
            written.append(config)
        return tuple(written)

    def build(self, plan: Plan, prefix: Path, specs: tuple[Path, ...]) -> Environment:
        """Create the venv at ``prefix`` and install the plan into it."""
        if plan.interpreter is None:
            raise BuildError("the plan has no interpreter for the venv backend")
        requirements = next(p for p in specs if p.name == requirements_txt.FILENAME)
        uv = uv_binary()
        if uv is not None:
            config = next((p for p in specs if p.name == UV_CONFIG), None)
            self._build_with_uv(uv, plan, prefix, requirements, config)
        else:
            self._build_with_pip(plan, prefix, requirements)
        return Environment(prefix=prefix, python=env_python(prefix), backend=NAME)

    def _build_with_uv(
        self, uv: str, plan: Plan, prefix: Path, requirements: Path, config: Path | None
    ) -> None:
        assert plan.interpreter is not None
        env = _subprocess.clean_env({"UV_NO_PROGRESS": "1"})
        create_venv(plan.interpreter.path, prefix, env, uv=uv)
        args: list[str | Path] = [
            uv,
            "pip",
            "install",
            "--python",
            env_python(prefix),
            "-r",
            requirements,
            "pip",
        ]
        if plan.exclude_newer:
            args += ["--exclude-newer", plan.exclude_newer]
        if config is not None:
            args += ["--config-file", config]
        self._install(args, env)

    def _build_with_pip(self, plan: Plan, prefix: Path, requirements: Path) -> None:
        assert plan.interpreter is not None
        env = _subprocess.clean_env()
        create_venv(plan.interpreter.path, prefix, env, uv=None)
        self._install([env_python(prefix), "-m", "pip", "install", "-r", requirements], env)

    @staticmethod
    def _install(args: list[str | Path], env: dict[str, str]) -> None:
        try:
            _subprocess.run(args, env=env, timeout=INSTALL_TIMEOUT_S, what="package install")
        except BuildError as exc:
            cause = uv_output.install_cause(exc.output)
            if cause:
                exc.message = f"{exc.message}: {cause}"
                exc.args = (exc.message,)
            exc.hint = exc.hint or _install_hint(f"{exc.message}\n{exc.output}")
            raise
