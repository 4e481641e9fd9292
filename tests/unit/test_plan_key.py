"""The cache key: the same plan gives the same key; any change to what is built, a new one."""

from __future__ import annotations

import platform
from dataclasses import replace
from pathlib import Path

from rebuild_env.pins import ModelSpec, Pin, PythonRecord, RecordedEnv
from rebuild_env.plan import PlannedPackage
from rebuild_env.rebuild import default_prefix, plan_key
from rebuild_env.resolve import make_plan


def _plan(*pins: str):  # type: ignore[no-untyped-def]
    recorded = RecordedEnv(
        bundle_dir=Path("b"),
        format="manifest",
        model=ModelSpec(Path("b/model.joblib")),
        pins=tuple(Pin.parse(p, source="bundle.yaml") for p in pins),
        python=PythonRecord(platform.python_version(), "bundle.yaml"),
    )
    return make_plan(recorded, resolve=False)


def test_same_plan_same_key_whatever_the_bundle() -> None:
    a = _plan("numpy==1.26.4", "scikit-learn==1.3.2")
    b = _plan("scikit-learn==1.3.2", "numpy==1.26.4")
    assert plan_key(a) == plan_key(b)
    assert plan_key(replace(a, recorded=replace(a.recorded, bundle_dir=Path("other")))) == plan_key(
        a
    )
    assert default_prefix(a) == default_prefix(b)


def test_any_change_to_the_environment_changes_the_key() -> None:
    base = _plan("numpy==1.26.4", "scikit-learn==1.3.2")
    changed = [
        _plan("numpy==1.26.3", "scikit-learn==1.3.2"),
        _plan("numpy==1.26.4", "scikit-learn==1.3.2", "pandas==2.1.0"),
        replace(base, backend="conda"),
        replace(base, python_version="3.99.0"),
        replace(base, exclude_newer="2021-01-01"),
        replace(
            base,
            packages=(*base.packages[:1], replace(base.packages[1], hashes=("sha256:00",))),
        ),
        replace(
            base, packages=(*base.packages, PlannedPackage("x", "", "s", url="https://h/x.whl"))
        ),
    ]
    keys = {plan_key(p) for p in changed}
    assert plan_key(base) not in keys and len(keys) == len(changed)


def test_conda_channels_are_part_of_the_key() -> None:
    plan = replace(_plan("numpy==1.26.4"), backend="conda")
    forge = plan_key(plan, ("conda-forge",))
    assert forge == plan_key(plan, ("conda-forge",))
    assert forge != plan_key(plan, ("file:///srv/channel",))
    assert forge != plan_key(plan, ("file:///srv/channel", "conda-forge"))
    assert default_prefix(plan, ("conda-forge",)) != default_prefix(plan, ("file:///srv/channel",))
