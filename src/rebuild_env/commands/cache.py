"""``rebuild-env cache``: list, locate, prune or clear cached environments."""

from __future__ import annotations

import argparse
import sys
import time
from types import ModuleType

from ..errors import ExitCode
from . import Display, Outcome, columns
from .rebuild import bundle_options


def run(args: argparse.Namespace, progress: Display) -> Outcome:
    """``cache list | path | prune | clear``: a table (or JSON) of cached environments."""
    from .. import cache

    if args.cache_command == "path":
        from ..planning import backend_for, plan_bundle
        from ..prefix import default_prefix

        options = bundle_options(args)
        plan, _ = plan_bundle(args.bundle, options)
        prefix = default_prefix(plan, backend_for(options).channels)
        doc = {"path": str(prefix), "exists": cache.is_complete(prefix)}
        return Outcome(
            ExitCode.OK, str(prefix), {"schema_version": 1, "command": "cache path", **doc}
        )
    busy: tuple[cache.CachedEnv, ...] = ()
    dry_run = getattr(args, "dry_run", False)
    if args.cache_command == "list":
        found = cache.entries()
    elif args.cache_command == "prune":
        removal = cache.prune(args.older_than, dry_run=dry_run)
        found, busy = list(removal.removed), removal.in_use
    else:
        if not (args.yes or dry_run) and sys.stdin.isatty() and not _confirm_clear(cache):
            return Outcome(
                ExitCode.OK, "nothing removed", {"schema_version": 1, "command": "cache clear"}
            )
        removal = cache.clear(dry_run=dry_run)
        found, busy = list(removal.removed), removal.in_use
    table = [("env", "size", "python", "backend", "last used", "bundle")]
    table += [
        (
            e.path.name + ("" if e.complete else " (incomplete)"),
            cache.human_size(e.size),
            e.python,
            e.backend,
            time.strftime("%Y-%m-%d %H:%M", time.localtime(e.last_used)),
            e.bundle + (" (compare candidate)" if e.role == "candidate" else ""),
        )
        for e in found
    ]
    lines = columns(table) if found else []
    where = "in" if args.cache_command == "list" else "removed from"
    where = "would be removed from" if dry_run else where
    total = cache.human_size(sum(e.size for e in found))
    envs = f"{len(found)} environment" + ("" if len(found) == 1 else "s")
    lines.append(f"{envs}, {total} {where} {cache.envs_dir()}")
    lines += [f"skipped {e.path.name}: in use by a running rebuild" for e in busy]
    rows = [
        {
            "path": str(e.path),
            "complete": e.complete,
            "bundle": e.bundle,
            "role": e.role,
            "python": e.python,
            "backend": e.backend,
            "last_used": e.last_used,
            "size": e.size,
        }
        for e in found
    ]
    doc = {"schema_version": 1, "command": f"cache {args.cache_command}", "environments": rows}
    if args.cache_command != "list":
        doc["dry_run"] = dry_run
        doc["in_use"] = [str(e.path) for e in busy]
    return Outcome(ExitCode.OK, "\n".join(lines), doc)


def _confirm_clear(cache: ModuleType) -> bool:
    """Ask on the terminal before ``cache clear`` removes everything (``--yes`` skips)."""
    found = cache.entries()
    size = cache.human_size(sum(e.size for e in found))
    answer = input(f"remove {len(found)} environment(s), {size}, from {cache.envs_dir()}? [y/N] ")
    return answer.strip().lower() in ("y", "yes")
