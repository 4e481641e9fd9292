"""False refusals of the scanner over every real model file the allow-list matrix saved.

    python scripts/scan_matrix.py [--cache DIR] [--report ALLOWLIST.md]

The allow-list generator (``scripts/make_allowlist.py``) keeps every model file it saved,
per matrix cell (library version x Python x numpy). This scans each of them the way
``rebuild`` would (the cell's own library pinned, so its profile is on) and counts the
files refused, by reason. Every file is a benign model a real library wrote: each refusal
is a false one, and the reasons say which rule (allow-list, dtype, budget...) caused it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

from rebuild_env.pickle_scan import scan_file

MODEL_SUFFIXES = (".joblib", ".pkl", ".pickle", ".skops")
SECTION = "## False refusals"  # the section of ALLOWLIST.md this script owns
REASON_WIDTH = 90


def default_cache() -> Path:
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("rebuild-env")) / "allowlist-matrix"


def reason(report_error: str, refused: list[str]) -> str:
    if report_error:
        return report_error[:REASON_WIDTH]
    return "not on the list: " + ", ".join(sorted(set(refused))[:3])


def scan_cell(cell: Path) -> dict[str, object]:
    info = json.loads((cell / "cell.json").read_text())
    pinned = [str(info.get("library", cell.parent.name)), *info.get("packages", {})]
    files = sorted(p for p in (cell / "models").iterdir() if p.suffix in MODEL_SUFFIXES)
    reasons: Counter[str] = Counter()
    refused = 0
    started = time.perf_counter()
    for path in files:
        report = scan_file(path, pinned=pinned)
        if not report.safe:
            refused += 1
            reasons[reason(report.error, [f"{g.module}.{g.name}" for g in report.refused])] += 1
    return {
        "profile": cell.parent.name,
        "cell": cell.name,
        "files": len(files),
        "refused": refused,
        "reasons": dict(reasons.most_common(5)),
        "seconds": round(time.perf_counter() - started, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=default_cache())
    parser.add_argument(
        "--report",
        type=Path,
        help="write the table as the '## False refusals' section of this file (ALLOWLIST.md)",
    )
    args = parser.parse_args(argv)
    cells = sorted(c for c in args.cache.glob("*/*") if (c / "cell.json").exists())
    if not cells:
        print(f"no matrix cells under {args.cache}: run scripts/make_allowlist.py first")
        return 1
    rows = [scan_cell(c) for c in cells if (c / "models").is_dir()]  # finished cells only
    lines = [
        "| profile | cell | files | refused | reasons (count) |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        reasons = "; ".join(f"{k} ({v})" for k, v in row["reasons"].items()) or "-"  # type: ignore[attr-defined]
        lines.append(
            f"| {row['profile']} | {row['cell']} | {row['files']} | {row['refused']} | {reasons} |"
        )
    total = sum(int(r["files"]) for r in rows)  # type: ignore[call-overload]
    refused = sum(int(r["refused"]) for r in rows)  # type: ignore[call-overload]
    lines.append(f"| **all** | {len(rows)} cells | {total} | {refused} | |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.report:
        head = args.report.read_text().partition(SECTION)[0] if args.report.exists() else ""
        intro = (
            f"`python scripts/scan_matrix.py` on {time.strftime('%Y-%m-%d')}: every model file "
            "the matrix saved, scanned as `rebuild` would (the cell's library pinned). Each is a "
            "benign file a real library wrote, so every refusal is a false one.\n\n"
        )
        args.report.write_text(head.rstrip("\n") + f"\n\n{SECTION}\n\n{intro}{text}")
    return 0 if refused == 0 else 3


if __name__ == "__main__":
    sys.exit(main())
