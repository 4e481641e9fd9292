"""``rebuild-env verify``: rebuild (through the cache) and verify many bundles, here in
threads (:mod:`..batch`) or on a Dask cluster (:mod:`..distributed`); the table and JSON."""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import ExitCode, UsageError
from . import Display, Outcome, clock, columns
from .rebuild import shared_options

LEGACY_OUT_NAME = "rebuild-env-out"
"""Where earlier versions put spec files (in the cwd): such folders are no bundles either."""


def run(args: argparse.Namespace, progress: Display) -> Outcome:
    """Rebuild (through the cache) and verify many bundles: a table (or JSON) of verdicts."""
    from ..batch import batch_exit_code, verify_all

    options = shared_options(
        args, timeout=args.timeout, offline=args.offline, sandbox=not args.no_sandbox
    )

    if args.report is not None:
        from ..registry_report import FORMATS

        if args.report.suffix.lower() not in FORMATS:
            raise UsageError(
                f"cannot tell the report format from {args.report.name!r}",
                hint="name it FILE.html or FILE.md",
            )
    address = _scheduler(args)
    given: list[Path | str] = list(map(Path, args.bundles))
    if address is not None:
        from ..distributed import is_url

        given = [b if is_url(b) else Path(b) for b in args.bundles]
    bundles, skipped = _own_output_folders(given)
    loud = not (args.quiet or args.json)
    started = time.monotonic()
    done = 0
    lock = threading.Lock()  # `begin` runs in the workers: one whole line at a time

    def line(text: str) -> None:
        with lock:
            sys.stderr.write(f"rebuild-env: [{clock(time.monotonic() - started)}] {text}\n")
            sys.stderr.flush()

    def say(row: Any) -> None:
        nonlocal done
        done += 1
        if loud:
            where = f" on {row.worker.host}" if row.worker is not None else ""
            line(
                f"{row.bundle}: {row.summary} ({row.seconds:.1f} s{where}); "
                f"{done} of {len(bundles)} done"
            )

    def begin(index: int, bundle: Path | str) -> None:
        if loud:
            line(f"starting {index} of {len(bundles)}: {bundle}")

    if loud:
        for folder in skipped:
            print(f"rebuild-env: skipped {folder}: spec files rebuild-env wrote", file=sys.stderr)
    if address is not None:
        from ..distributed import verify_on_cluster

        def begin_on(index: int, host: str) -> None:
            begin(index, f"{bundles[index - 1]} on {host}")

        rows = verify_on_cluster(bundles, options, address=address, on_done=say, on_start=begin_on)
    else:
        paths = [Path(b) for b in bundles]
        rows = verify_all(paths, options, jobs=args.jobs, on_done=say, on_start=begin)
    if args.debug:  # a bundle's bug became its row; --debug still shows where it happened
        import traceback

        for row in rows:
            if row.bug is not None:
                traceback.print_exception(row.bug, file=sys.stderr)
    code = batch_exit_code(rows)
    passed = sum(1 for r in rows if r.exit_code == ExitCode.OK)
    table: list[tuple[str, ...]] = [("bundle", "status", "python", "versions", "time")]
    for r in rows:
        versions = " ".join(f"{k}={v}" for k, v in r.versions)
        table.append((str(r.bundle), r.status, r.python, versions, f"{r.seconds:.1f}s"))
    if address is not None:  # which worker verified each bundle
        table = [(*table[0], "worker")] + [
            (*t, f"{r.worker.host} {r.worker.address}" if r.worker else "-")
            for t, r in zip(table[1:], rows, strict=True)
        ]
    lines = columns(table)
    lines.append(f"{passed}/{len(rows)} verified")
    if args.report is not None:
        from ..registry_report import write_report

        written = write_report(rows, args.report)
        lines.append(f"report written to {written}")
    doc = {
        "schema_version": 1,
        "command": "verify",
        "exit_code": int(code),
        "passed": passed,
        "total": len(rows),
        "bundles": [r.to_json() for r in rows],
    }
    return Outcome(code, "\n".join(lines), doc)


def _own_output_folders(
    bundles: Sequence[Path | str],
) -> tuple[list[Path | str], list[Path | str]]:
    """The bundles to verify, and the folders of spec files rebuild-env wrote itself
    (``verify */`` in a folder where ``--out`` put them): those are no bundles. A URL
    (a str, ``--scheduler`` only) is a bundle."""
    from ..rebuild import OUT_MARKER

    kept: list[Path | str] = []
    skipped: list[Path | str] = []
    for bundle in bundles:
        own = isinstance(bundle, Path) and (
            (bundle / OUT_MARKER).is_file() or bundle.resolve().name == LEGACY_OUT_NAME
        )
        (skipped if own else kept).append(bundle)
    if not kept:
        raise UsageError(
            "every folder given holds spec files rebuild-env wrote, not a bundle",
            hint="pass bundle folders or model files",
        )
    return kept, skipped


def _scheduler(args: argparse.Namespace) -> str | None:
    """``--scheduler``, else ``DASK_SCHEDULER_ADDRESS`` (Dask's own variable), else none."""
    return args.scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS") or None
