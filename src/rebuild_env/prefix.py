"""Where an environment of a plan lives, and the key that says which plan it holds.

The key covers everything that determines the built environment, so two bundles with the
same plan share one cached environment (``<cache>/envs/<backend>-<key>``).
"""

from __future__ import annotations

import hashlib
import json
import sysconfig
from collections.abc import Sequence
from pathlib import Path

from .cache import envs_dir
from .locations import cache_dir
from .plan import Plan


def plan_key(plan: Plan, channels: Sequence[str] = ()) -> str:
    """A hash of everything that determines the built environment.

    ``channels``: the conda channels in force (another channel is another environment).
    """
    doc = {
        "backend": plan.backend,
        "python": plan.python_version,
        "implementation": plan.interpreter.implementation if plan.interpreter else "cpython",
        "platform": sysconfig.get_platform(),
        "interpreter": str(plan.interpreter.path) if plan.interpreter else None,
        "packages": sorted((p.name, p.version, p.url, p.hashes) for p in plan.packages),
        "index": [plan.index.index_url, *plan.index.extra_index_urls, *plan.index.find_links],
        "exclude_newer": plan.exclude_newer,
        "channels": list(channels),
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def default_prefix(plan: Plan, channels: Sequence[str] = ()) -> Path:
    """Where an environment lives when no ``--prefix`` is given: the per-user cache."""
    return envs_dir() / f"{plan.backend}-{plan_key(plan, channels)[:16]}"


def default_out(plan: Plan, channels: Sequence[str] = ()) -> Path:
    """Where spec files go without ``--out``: beside the env in the cache, never the cwd
    (a ``./rebuild-env-out`` in whatever folder the user stood in was litter)."""
    return cache_dir() / "specs" / default_prefix(plan, channels).name
