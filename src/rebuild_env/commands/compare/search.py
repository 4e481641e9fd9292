"""``compare --newest-identical``: the newest release that still predicts identically.

Bisects the releases newer than the reference's (those that install on the candidate
Python), on the assumption that behaviour changes once and then stays changed: the
reference version is identical by definition, the newest release is checked first (often
the answer), then the midpoints. The two neighbours of the boundary are both checked by
construction; the release after the first non-identical one is checked as well, and a
return to identical there is reported (the assumption did not hold).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ...errors import UsageError
from .candidate import Upgrade, candidate_python, searchable_versions
from .session import Session
from .verdict import Verdict


@dataclass(frozen=True)
class Search:
    """What the search found."""

    distribution: str
    python: str
    reference_version: str
    versions: tuple[str, ...]
    """Every release searched, oldest first."""
    steps: tuple[tuple[str, Verdict], ...]
    """The versions checked, in the order they were checked."""
    newest_identical: str
    """The reference version when no newer release is identical."""
    first_not_identical: str = ""
    """Empty when every release up to the newest is identical."""
    not_monotone: str = ""
    """A release past the boundary that was identical again (empty when none was)."""

    def verdict_of(self, version: str) -> Verdict | None:
        """The verdict of a checked version."""
        return next((v for name, v in self.steps if name == version), None)

    def summary(self) -> str:
        """The answer in one line."""
        name = self.distribution
        checked = [v for v, _ in self.steps]
        # Never claim more than was checked: a bisection checks a few of the releases.
        if len(checked) == len(self.versions):
            scope = f"checked all {len(checked)} releases after {self.reference_version}"
        else:
            scope = (
                f"checked {len(checked)} of the {len(self.versions)} releases after "
                f"{self.reference_version} ({', '.join(checked)}); the others were not run"
            )
        if not self.first_not_identical:
            what = (
                f"every release of {name} up to {self.newest_identical} predicts"
                if len(checked) == len(self.versions)
                else f"{name}=={self.newest_identical} predicts"
            )
            return f"{what} identically on Python {self.python} ({scope})"
        boundary = self.verdict_of(self.first_not_identical)
        why = f": {boundary.summary()}" if boundary else ""
        return (
            f"newest identical {name}=={self.newest_identical}; "
            f"first that is not: {self.first_not_identical}{why} ({scope})"
        )

    def to_json(self) -> dict[str, Any]:
        """The search as JSON."""
        return {
            "distribution": self.distribution,
            "python": self.python,
            "reference_version": self.reference_version,
            "versions": list(self.versions),
            "steps": [{"version": v, **verdict.to_json()} for v, verdict in self.steps],
            "newest_identical": self.newest_identical,
            "first_not_identical": self.first_not_identical or None,
            "not_monotone": self.not_monotone or None,
            "summary": self.summary(),
        }


def searched_upgrade(upgrades: Sequence[Upgrade]) -> tuple[Upgrade, tuple[Upgrade, ...]]:
    """The one upgrade to search (no exact version) and the fixed ones beside it."""
    open_ = [u for u in upgrades if u.version is None]
    if len(open_) != 1:
        raise UsageError(
            "--newest-identical searches one distribution: name it with --upgrade NAME "
            "(optionally with a range, e.g. 'scikit-learn<1.3'); other upgrades must be exact",
            hint="e.g. rebuild-env compare BUNDLE --upgrade scikit-learn --newest-identical",
        )
    return open_[0], tuple(u for u in upgrades if u.version is not None)


def newest_identical(session: Session, upgrades: Sequence[Upgrade]) -> Search:
    """Search the releases of the one open upgrade for the newest identical one."""
    upgrade, fixed = searched_upgrade(upgrades)
    _, python, _ = candidate_python(session.plan, session.options.python)
    versions = searchable_versions(upgrade, session.plan, python, session.files)
    planned = session.plan.package(upgrade.name)
    reference_version = planned.version if planned else ""
    if not versions:
        range_ = f" in {upgrade.specifier}" if upgrade.specifier else ""
        raise UsageError(
            f"--newest-identical: no release of {upgrade.name} newer than "
            f"{reference_version or 'the reference'}{range_} installs on Python {python}",
            hint="widen the range, or pass --python for another interpreter",
        )
    steps: list[tuple[str, Verdict]] = []
    # newest first, then a bisection, then the release after the boundary
    at_most = min(len(versions), 2 + math.ceil(math.log2(len(versions) + 1)))

    def identical(i: int) -> bool:
        stage = (
            f"release {len(steps) + 1} of at most {at_most} "
            f"({len(versions)} releases): {upgrade.name} {versions[i]}"
        )
        session.progress(stage, "start")
        verdict = session.check([*fixed, upgrade.exact(versions[i])])
        session.progress(stage, "done")
        steps.append((versions[i], verdict))
        return verdict.status == "identical"

    last = len(versions) - 1
    lo, hi = -1, len(versions)  # versions[lo] is identical (-1: the reference); [hi] is not
    if identical(last):
        lo = last
    else:
        hi = last
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if identical(mid):
                lo = mid
            else:
                hi = mid
    not_monotone = ""
    if hi + 1 <= last and all(v != versions[hi + 1] for v, _ in steps) and identical(hi + 1):
        not_monotone = versions[hi + 1]
    return Search(
        distribution=upgrade.name,
        python=python,
        reference_version=reference_version,
        versions=tuple(versions),
        steps=tuple(steps),
        newest_identical=versions[lo] if lo >= 0 else reference_version,
        first_not_identical=versions[hi] if hi <= last else "",
        not_monotone=not_monotone,
    )
