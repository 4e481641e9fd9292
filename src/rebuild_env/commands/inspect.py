"""``rebuild-env inspect PATH``: what a model file references, without running it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import BundleError, ExitCode
from ..pickle_scan import ScanReport, scan_file

if TYPE_CHECKING:
    from ..pins import RecordedEnv

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class InspectResult:
    """The scan of a model file, and how it compares with the bundle's record."""

    scan: ScanReport
    recorded: RecordedEnv | None
    differences: tuple[str, ...]

    @property
    def exit_code(self) -> ExitCode:
        """0 when the file passes the scan, 7 when it is refused."""
        return ExitCode.OK if self.scan.safe else ExitCode.UNSAFE_MODEL

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` document."""
        return {
            "schema_version": SCHEMA_VERSION,
            "command": "inspect",
            "exit_code": int(self.exit_code),
            "bundle_format": self.recorded.format if self.recorded else None,
            "scan": self.scan.to_json(),
            "differences": list(self.differences),
        }

    def render_text(self) -> str:
        """A readable report."""
        s = self.scan
        lines = [
            f"file      {s.path} ({s.size} bytes)",
            f"format    {s.container}, compression {s.compression}, pickle protocol {s.protocol}"
            + (f" (needs Python >= {s.min_python})" if s.min_python else ""),
            f"verdict   {'safe to load in the rebuilt env' if s.safe else 'REFUSED'}"
            + (f": {s.error}" if s.error else ""),
        ]
        lines += [f"refused   {g}" for g in s.refused]
        by_profile: dict[str, int] = {}
        for _, profile in s.allowed_by:
            by_profile[profile] = by_profile.get(profile, 0) + 1
        if by_profile:
            counts = ", ".join(f"{n} by {name}" for name, n in sorted(by_profile.items()))
            lines.append(f"allowed   {counts} (profiles in force: {', '.join(s.profiles)})")
        lines += [f"warning   {w}" for w in s.warnings]
        lines += [f"needs     {p.name}{p.specifier}  ({p.source})" for p in s.hints]
        lines += [f"differs   {d}" for d in self.differences]
        lines.append(f"globals   {len({(g.module, g.name) for g in s.globals})} distinct")
        lines += [f"  {name}" for name in sorted({f"{g.module}.{g.name}" for g in s.globals})]
        if s.arrays:
            lines.append(f"arrays    {len(s.arrays)} in the joblib payload")
        lines += [f"type      {t}" for t in s.types]
        return "\n".join(lines)


def inspect(path: Path) -> InspectResult:
    """Scan a model file, or a bundle's model file, and compare with its recorded pins."""
    path = Path(path)
    recorded = None
    model = path
    if path.is_dir():
        from ..bundle import read_bundle  # the readers only for a bundle, not a lone file

        recorded = read_bundle(path)
        model = recorded.model.path
    elif not path.exists():
        raise BundleError("does not exist", path=path)
    scan = scan_file(model, pinned=[p.name for p in recorded.pins] if recorded else ())
    differences = []
    if recorded is not None:
        for hint in scan.hints:
            pin = recorded.pin(hint.name)
            if pin is None:
                differences.append(
                    f"{hint.name}: the model needs it, the bundle does not record it"
                )
            elif hint.version and pin.version and hint.version != pin.version:
                differences.append(
                    f"{hint.name}: {pin.source} says {pin.version}, "
                    f"the model was written by {hint.version}"
                )
    return InspectResult(scan=scan, recorded=recorded, differences=tuple(differences))
