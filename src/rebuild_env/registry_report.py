"""``verify --report FILE.html|FILE.md``: a registry report a team can read or publish.

One row per bundle (verdict and level, Python, key packages as recorded, as installed and
as the model file says, warnings, time) and a summary. The HTML is one self-contained page:
inline CSS, no script, no external resource, so it opens from a file, a mail or an
artifact store as it is; ``<details>`` folds the long warning lists without JavaScript.
"""

from __future__ import annotations

import html
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from .errors import ExitCode, UsageError
from .report import Report

if TYPE_CHECKING:
    from .batch import Worker

KEY_PACKAGES = ("scikit-learn", "numpy", "scipy", "pandas", "xgboost", "lightgbm", "torch")
FORMATS = {".html": "html", ".htm": "html", ".md": "markdown", ".markdown": "markdown"}
_VERDICT_CLASS = {
    ExitCode.OK: "ok",
    ExitCode.VERSION_WARNING: "warn",
    ExitCode.LOADS_ONLY: "warn",
}
_STYLE = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem;color:#1b1f23}
h1{font-size:1.4rem;margin:0 0 .3rem}
p.meta{color:#57606a;margin:0 0 1rem}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{border:1px solid #d0d7de;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}
td.ok{background:#dafbe1}td.warn{background:#fff8c5}td.fail{background:#ffebe9}
ul{margin:0;padding-left:1.1rem}
td:nth-child(2){max-width:24rem}td:nth-child(5){min-width:16rem}
code{font-size:.85rem}
.summary td{font-weight:600}
"""


class Row(Protocol):
    """What the report needs of a ``verify`` row (``batch.BatchRow``)."""

    @property
    def bundle(self) -> Path | str: ...
    @property
    def status(self) -> str: ...
    @property
    def exit_code(self) -> ExitCode: ...
    @property
    def summary(self) -> str: ...
    @property
    def python(self) -> str: ...
    @property
    def seconds(self) -> float: ...
    @property
    def report(self) -> Report | None: ...
    @property
    def worker(self) -> Worker | None: ...


def _where(row: Row) -> str:
    """`` on HOST (tcp://...)`` when a cluster worker verified the bundle, else nothing."""
    return f" on {row.worker.host} ({row.worker.address})" if row.worker is not None else ""


@dataclass(frozen=True)
class PackageLine:
    """One key package: what the record pinned, what the env imported, what the file says."""

    name: str
    recorded: str
    installed: str
    pickle: str

    @property
    def drifted(self) -> bool:
        """The imported version is not the one recorded."""
        return bool(self.recorded and self.installed and self.recorded != self.installed)

    def text(self) -> str:
        """``numpy 1.26.4 (recorded 1.26.3; the model file says >=1.26)``."""
        out = f"{self.name} {self.installed or self.recorded or '(not imported)'}"
        notes = []
        if self.recorded and self.recorded != self.installed:
            notes.append(f"recorded {self.recorded}")
        if self.pickle:
            notes.append(f"the model file says {self.pickle}")
        return out + (f" ({'; '.join(notes)})" if notes else "")


def packages(report: Report | None) -> list[PackageLine]:
    """The key packages of a bundle, recorded vs installed vs the pickle's version hints."""
    if report is None:
        return []
    recorded = {p.name: p.version or p.specifier for p in report.plan.recorded.pins}
    installed = report.probe.versions if report.probe is not None else {}
    hints = {
        str(h.get("name")): str(h.get("specifier") or "")
        for h in (report.scan or {}).get("hints", [])
    }
    planned = {p.name for p in report.plan.packages}
    names = [n for n in KEY_PACKAGES if n in recorded or n in installed or n in planned]
    return [
        PackageLine(n, recorded.get(n, ""), installed.get(n, ""), hints.get(n, "")) for n in names
    ]


def _level(row: Row) -> str:
    report = row.report
    if report is None or report.probe is None:
        return "-"
    return report.probe.level or "-"


def _warnings(row: Row) -> list[str]:
    return row.report.all_warnings() if row.report is not None else []


def _verdict_class(row: Row) -> str:
    return _VERDICT_CLASS.get(row.exit_code, "fail")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def summary_line(rows: Sequence[Row]) -> str:
    """``3 bundles: 2 verified, 1 with warnings, 0 failed; 41.2 s``."""
    verified = sum(1 for r in rows if r.exit_code == ExitCode.OK)
    warned = sum(1 for r in rows if _verdict_class(r) == "warn")
    failed = len(rows) - verified - warned
    total = sum(r.seconds for r in rows)
    return (
        f"{_plural(len(rows), 'bundle')}: {verified} verified, {warned} with warnings, "
        f"{failed} failed; {total:.1f} s"
    )


def render_html(rows: Sequence[Row], *, title: str = "rebuild-env registry report") -> str:
    """One self-contained HTML page (no script, no external resource)."""
    esc = html.escape
    body = []
    for row in rows:
        pkgs = "".join(
            f"<li{' class=drift' if p.drifted else ''}>{esc(p.text())}</li>"
            for p in packages(row.report)
        )
        warnings = _warnings(row)
        warned = "".join(f"<li>{esc(w)}</li>" for w in warnings)
        folded = (
            f"<details><summary>{_plural(len(warnings), 'warning')}</summary><ul>{warned}</ul>"
            "</details>"
            if warnings
            else "none"
        )
        body.append(
            "<tr>"
            f"<td><code>{esc(str(row.bundle))}</code>{esc(_where(row))}</td>"
            f"<td class={_verdict_class(row)}>{esc(row.status)} (exit {int(row.exit_code)})<br>"
            f"{esc(row.summary)}</td>"
            f"<td>{esc(_level(row))}</td>"
            f"<td>{esc(row.python or '-')}</td>"
            f"<td><ul>{pkgs}</ul></td>"
            f"<td>{folded}</td>"
            f"<td>{row.seconds:.1f} s</td>"
            "</tr>"
        )
    when = time.strftime("%Y-%m-%d %H:%M %Z")
    return (
        "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
        f"<title>{esc(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{esc(title)}</h1><p class=meta>written {esc(when)} by rebuild-env verify</p>"
        f"<table class=summary><tr><td>{esc(summary_line(rows))}</td></tr></table><br>"
        "<table id=bundles><thead><tr><th>bundle</th><th>verdict</th><th>level</th>"
        "<th>Python</th><th>key packages (installed; recorded; the model file says)</th>"
        "<th>warnings</th><th>time</th></tr></thead><tbody>"
        + "".join(body)
        + "</tbody></table></body></html>\n"
    )


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(rows: Sequence[Row], *, title: str = "rebuild-env registry report") -> str:
    """A Markdown table (GitHub-flavoured) with the same rows and summary."""
    lines = [
        f"# {title}",
        "",
        f"**{summary_line(rows)}**",
        "",
        "| bundle | verdict | level | Python | key packages | warnings | time |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        pkgs = "<br>".join(_md_cell(p.text()) for p in packages(row.report))
        warnings = "<br>".join(_md_cell(w) for w in _warnings(row)) or "none"
        lines.append(
            f"| `{_md_cell(str(row.bundle))}`{_md_cell(_where(row))} | "
            f"{row.status} (exit {int(row.exit_code)}): "
            f"{_md_cell(row.summary)} | {_level(row)} | {row.python or '-'} | {pkgs or '-'} | "
            f"{warnings} | {row.seconds:.1f} s |"
        )
    return "\n".join(lines) + "\n"


def write_report(rows: Sequence[Row], path: Path) -> Path:
    """Write the report in the format its suffix names; the path written."""
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise UsageError(
            f"cannot tell the report format from {path.name!r}",
            hint="name it FILE.html or FILE.md",
        )
    text = render_html(rows) if kind == "html" else render_markdown(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path
