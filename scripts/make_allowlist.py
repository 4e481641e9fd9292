"""Generate the pickle scanner's allow-lists from real model files over a version matrix.

    python scripts/make_allowlist.py [--profiles scikit-learn,xgboost] [--jobs N] [--cache DIR]
    python scripts/make_allowlist.py --sample [--allowlists DIR]      # the CI check

For every matrix cell (a profile's library version, with the newest pyenv Python that has
a wheel for it, and numpy/scipy/pandas as of that release: uv's ``--exclude-newer``), a
real environment is built with uv, every estimator of the version is fitted and saved
(joblib, every compression, pickle protocols 2 and highest: ``allowlist_env/train.py``),
and a fresh process in the same environment loads each file with an instrumented
unpickler that records every ``(module, qualname)`` asked for (``allowlist_env/record.py``).
The union, minus what the policy below refuses, is written to one JSON file per profile
in ``src/rebuild_env/pickle_scan/allowlists/``, and the matrix to ``ALLOWLIST.md``.

Everything is cached in ``<cache>/<profile>/<version>-py<X.Y>/`` (``env/``, ``models/``,
``cell.json``, ``pairs.json``): a rerun does not rebuild a finished cell, and other scripts
reuse the model files and environments.

``--sample`` builds two small cells (the oldest and the newest scikit-learn minor, ~15
estimators and 3 compositions) and exits 1 listing every pair their real unpickler asked
for that the committed ``scikit-learn.json`` lacks.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from rebuild_env import _subprocess, index
from rebuild_env.errors import RebuildEnvError
from rebuild_env.pickle_scan.allowlist import forbidden
from rebuild_env.resolve import tags_for

ROOT = Path(__file__).resolve().parent.parent
ENV_SCRIPTS = Path(__file__).resolve().parent / "allowlist_env"
DEFAULT_ALLOWLISTS = ROOT / "src" / "rebuild_env" / "pickle_scan" / "allowlists"
DEFAULT_REPORT = ROOT / "ALLOWLIST.md"
GENERATED_BY = "scripts/make_allowlist.py"
CACHE_SUBDIR = "allowlist-matrix"
SAMPLE_SUBDIR = "_sample"
CORE = "scikit-learn"
OLDEST_SKLEARN = Version("0.20")
DAYS_AFTER_UPLOAD = 5  # numpy/scipy/pandas as they were a few days after the release
THIRD_PARTY_YEARS = 4
# Users upgrade scikit-learn without its dependencies: the newest scikit-learn is also run
# with each numpy/scipy/pandas minor of these last years (their pickles name other globals:
# scipy 1.17's BSpline asks for array_api_compat's asarray, 1.18's does not).
DEPENDENCY_YEARS = 3
DEPENDENCIES = ("numpy", "scipy", "pandas")
THIRD_PARTY_VERSIONS = 4
KEY_PACKAGES = ("scikit-learn", "numpy", "scipy", "pandas", "joblib")
HEAVY_BINARIES = ("numpy", "scipy", "scikit-learn", "pandas")
INSTALL_TIMEOUT_S = 1800.0
TRAIN_TIMEOUT_S = 3600.0
RECORD_TIMEOUT_S = 1800.0
PYTHONS_TRIED = 3
CELL_FORMAT = 1
# Keep a shared machine usable and the fits reproducible: one BLAS/OpenMP thread per cell.
SINGLE_THREAD = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "PYTHONHASHSEED": "0",
}


@dataclass(frozen=True)
class Profile:
    """One allow-list file: the library whose real model files it is generated from."""

    name: str
    distribution: str
    extra: tuple[str, ...] = ("scikit-learn", "pandas")
    # Requirements dropped from resolution (xgboost >= 2 pulls ~200 MB of CUDA NCCL that
    # a CPU model never loads).
    overrides: tuple[str, ...] = ()


PROFILES = (
    Profile(CORE, "scikit-learn", extra=("pandas", "joblib")),
    Profile("xgboost", "xgboost", overrides=('nvidia-nccl-cu12; sys_platform == "never"',)),
    Profile("lightgbm", "lightgbm"),
    Profile("catboost", "catboost"),
    Profile("category-encoders", "category-encoders"),
    Profile("feature-engine", "feature-engine"),
    Profile("imbalanced-learn", "imbalanced-learn"),
)
PROFILE_BY_NAME = {p.name: p for p in PROFILES}


# ------------------------------------------------------------------------------ policy


def refused_by_policy(module: str, name: str) -> bool:
    """Whether a global is never allowed, whatever real model files ask for: the scanner's
    own rule (``rebuild_env.pickle_scan.allowlist.forbidden``), so the two cannot drift.
    Such pairs go to ``refused_by_policy`` instead of ``globals``."""
    return forbidden(module, name)


# ------------------------------------------------------------------------------ matrix


@dataclass(frozen=True)
class Release:
    version: Version
    uploaded: str  # RFC 3339
    files: tuple[index.ReleaseFile, ...]


@dataclass(frozen=True)
class Planned:
    """A cell to build: a library release and the interpreters worth trying, best first."""

    profile: Profile
    release: Release
    pythons: tuple[tuple[str, Path], ...]  # (X.Y, interpreter)
    exclude_newer: str
    sample: bool = False
    pin: str = ""  # a dependency variant: "scipy==1.17.1"
    variant: str = ""  # its folder suffix: "scipy1.17"


@dataclass(frozen=True)
class CellResult:
    """What one built (or failed) cell produced, as kept in its ``cell.json``."""

    directory: Path
    record: dict[str, object] = field(hash=False)

    @property
    def done(self) -> bool:
        return self.record.get("status") == "done"


def pyenv_pythons() -> dict[str, Path]:
    """X.Y -> interpreter, from pyenv's versions (Python 3 only)."""
    done = _subprocess.run(["pyenv", "root"], check=False, timeout=60)
    found: dict[str, Path] = {}
    if done.returncode != 0:
        return found
    for python in sorted(Path(done.stdout.strip(), "versions").glob("*/bin/python")):
        try:
            version = Version(python.parent.parent.name)
        except InvalidVersion:
            continue
        if version.major == 3 and not version.is_prerelease:
            found[f"{version.major}.{version.minor}"] = python
    return found


def releases(distribution: str) -> list[Release]:
    """Final, not yanked releases with at least one file, oldest first."""
    answer = index.release_files([distribution])
    if answer is None:
        raise SystemExit(f"the package index cannot be read for {distribution}")
    by_version: dict[Version, list[index.ReleaseFile]] = {}
    for f in answer.get(canonicalize_name(distribution), []):
        if not f.version.is_prerelease and not f.version.is_devrelease and not f.yanked:
            by_version.setdefault(f.version, []).append(f)
    return [
        Release(v, index.upload_date(fs), tuple(fs))
        for v, fs in sorted(by_version.items())
        if index.upload_date(fs)
    ]


def minor_heads(all_releases: Iterable[Release]) -> list[Release]:
    """The newest patch of each minor release, oldest minor first."""
    heads: dict[tuple[int, int], Release] = {}
    for r in all_releases:
        key = (r.version.major, r.version.minor)
        if key not in heads or r.version > heads[key].version:
            heads[key] = r
    return [heads[k] for k in sorted(heads)]


def spread(items: Sequence[Release], count: int) -> list[Release]:
    """``count`` items evenly spread over ``items``, the first and the last included."""
    if len(items) <= count:
        return list(items)
    step = (len(items) - 1) / (count - 1)
    return [items[round(i * step)] for i in range(count)]


def date_after(uploaded: str, days: int) -> str:
    moment = datetime.fromisoformat(uploaded.replace("Z", "+00:00"))
    return (moment + timedelta(days=days)).date().isoformat()


def has_wheel(files: Sequence[index.ReleaseFile], minor: str) -> bool:
    wheels = [f for f in files if f.tags]
    return bool(wheels) and index.supports_python(wheels, Version(minor), tags_for(minor))


def plan_profile(
    profile: Profile, pythons: dict[str, Path], sklearn: list[Release], *, sample: bool = False
) -> list[Planned]:
    """The cells of one profile: which releases, which Pythons, which date."""
    own = releases(profile.distribution)
    if profile.name == CORE:
        chosen = [r for r in minor_heads(own) if r.version >= OLDEST_SKLEARN]
        if sample:
            chosen = [chosen[0], chosen[-1]]
    else:
        since = (datetime.now(timezone.utc) - timedelta(days=365 * THIRD_PARTY_YEARS)).isoformat()
        recent = [r for r in own if r.uploaded >= since]
        heads = minor_heads(recent)
        # A library that kept one minor series for years (catboost 1.2.x) is spread over
        # its patch releases instead.
        chosen = spread(
            heads if len(heads) >= THIRD_PARTY_VERSIONS else recent, THIRD_PARTY_VERSIONS
        )
    cells = []
    for release in chosen:
        cutoff = date_after(release.uploaded, DAYS_AFTER_UPLOAD)
        contemporary = [r for r in sklearn if r.uploaded <= release.uploaded] or sklearn[:1]
        partner = contemporary[-1]
        fitting = tuple(
            (minor, path)
            for minor, path in sorted(pythons.items(), key=lambda kv: Version(kv[0]), reverse=True)
            if has_wheel(release.files, minor) and has_wheel(partner.files, minor)
        )
        cells.append(Planned(profile, release, fitting[:PYTHONS_TRIED], cutoff, sample))
    if profile.name == CORE and not sample:
        cells += dependency_variants(profile, pythons, chosen[-1])
    return cells


def dependency_variants(
    profile: Profile, pythons: dict[str, Path], newest: Release
) -> list[Planned]:
    """The newest scikit-learn with each recent numpy/scipy/pandas minor pinned."""
    since = (datetime.now(timezone.utc) - timedelta(days=365 * DEPENDENCY_YEARS)).isoformat()
    cells = []
    for dependency in DEPENDENCIES:
        for release in minor_heads(r for r in releases(dependency) if r.uploaded >= since):
            fitting = tuple(
                (minor, path)
                for minor, path in sorted(
                    pythons.items(), key=lambda kv: Version(kv[0]), reverse=True
                )
                if has_wheel(release.files, minor) and has_wheel(newest.files, minor)
            )
            cells.append(
                Planned(
                    profile,
                    newest,
                    fitting[:PYTHONS_TRIED],
                    # the rest as of the newer of the two releases: scikit-learn's own
                    # new dependencies must be there, and the pin must not be excluded
                    date_after(max(newest.uploaded, release.uploaded), DAYS_AFTER_UPLOAD),
                    pin=f"{dependency}=={release.version}",
                    variant=f"{dependency}{release.version.major}.{release.version.minor}",
                )
            )
    return cells


# ------------------------------------------------------------------------------- cells


def uv() -> str:
    from uv import find_uv_bin

    return str(find_uv_bin())


def cell_root(cache: Path, planned: Planned) -> Path:
    base = cache / SAMPLE_SUBDIR if planned.sample else cache
    return base / planned.profile.name


def cell_name(planned: Planned, minor: str) -> str:
    suffix = f"-{planned.variant}" if planned.variant else ""
    return f"{planned.release.version}-py{minor}{suffix}"


def finished_cell(cache: Path, planned: Planned) -> CellResult | None:
    for directory in sorted(cell_root(cache, planned).glob(f"{planned.release.version}-py*")):
        record = read_json(directory / "cell.json")
        if (
            record.get("status") == "done"
            and record.get("variant", "") == planned.variant
            and (directory / "pairs.json").exists()
        ):
            return CellResult(directory, record)
    return None


def read_json(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_json(path: Path, data: object) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(path)


def log(message: str) -> None:
    stamp = datetime.now().strftime("%H:%M:%S")
    print(f"[{stamp}] {message}", flush=True)


def build_env(planned: Planned, minor: str, python: Path, env: Path) -> str:
    """Create the cell's environment; '' when it works, else why not."""
    marker = env / ".installed"
    if marker.exists():
        return ""
    shutil.rmtree(env, ignore_errors=True)
    profile = planned.profile
    created = _subprocess.run(
        [uv(), "venv", "--quiet", "--python", python, env], check=False, timeout=300
    )
    if created.returncode != 0:
        return f"uv venv --python {minor}: {_subprocess.tail(created.stderr)}"
    args: list[str | Path] = [
        uv(),
        "pip",
        "install",
        "--quiet",
        "--python",
        env / "bin" / "python",
        "--exclude-newer",
        planned.exclude_newer,
        "--only-binary",
        ",".join(HEAVY_BINARIES),
    ]
    if planned.pin:
        args.append(planned.pin)
    if profile.overrides:
        overrides = env / "overrides.txt"
        overrides.write_text("\n".join(profile.overrides) + "\n", encoding="utf-8")
        args += ["--override", overrides]
    args += [f"{profile.distribution}=={planned.release.version}", *profile.extra]
    installed = _subprocess.run(args, check=False, timeout=INSTALL_TIMEOUT_S)
    if installed.returncode != 0:
        return f"install on Python {minor}: {_subprocess.tail(installed.stderr)}"
    marker.write_text(planned.exclude_newer, encoding="utf-8")
    return ""


def installed_packages(env: Path) -> dict[str, str]:
    done = _subprocess.run(
        [uv(), "pip", "list", "--python", env / "bin" / "python", "--format", "json"],
        check=False,
        timeout=120,
    )
    try:
        rows = json.loads(done.stdout)
    except ValueError:
        return {}
    return {canonicalize_name(r["name"]): r["version"] for r in rows}


def run_in_env(env: Path, script: str, args: Sequence[str | Path], timeout: float) -> str:
    """Run one of allowlist_env's scripts with the cell's interpreter; '' or the failure."""
    done = _subprocess.run(
        [env / "bin" / "python", ENV_SCRIPTS / script, *args],
        env=_subprocess.clean_env(SINGLE_THREAD),
        check=False,
        timeout=timeout,
    )
    if done.returncode != 0:
        return f"{script} failed ({done.returncode}): {_subprocess.tail(done.stderr)}"
    return ""


def build_cell(cache: Path, planned: Planned) -> CellResult:
    """Build, train and record one cell (or return it from the cache)."""
    cached = finished_cell(cache, planned)
    if cached is not None:
        return cached
    started = time.perf_counter()
    name = f"{planned.profile.name} {planned.release.version} {planned.pin}".strip()
    record: dict[str, object] = {
        "format": CELL_FORMAT,
        "profile": planned.profile.name,
        "library": planned.profile.distribution,
        "version": str(planned.release.version),
        "uploaded": planned.release.uploaded,
        "exclude_newer": planned.exclude_newer,
        "variant": planned.variant,
        "status": "failed",
    }
    if not planned.pythons:
        directory = cell_root(cache, planned) / cell_name(planned, "-none")
        directory.mkdir(parents=True, exist_ok=True)
        record["reason"] = "no interpreter on this machine has a wheel for it"
        write_json(directory / "cell.json", record)
        log(f"{name}: {record['reason']}")
        return CellResult(directory, record)
    failures = []
    for minor, python in planned.pythons:
        directory = cell_root(cache, planned) / cell_name(planned, minor)
        directory.mkdir(parents=True, exist_ok=True)
        env = directory / "env"
        log(f"{name}: building on Python {minor} (as of {planned.exclude_newer})")
        why = build_env(planned, minor, python, env)
        if why:
            failures.append(why)
            log(f"{name}: {why}")
            shutil.rmtree(env, ignore_errors=True)
            record.update(python=minor, reason="; ".join(failures))
            write_json(directory / "cell.json", record)
            continue
        record.update(
            python=minor,
            interpreter=str(python),
            python_path=str(env / "bin" / "python"),
            packages=installed_packages(env),
        )
        built = time.perf_counter()
        models = directory / "models"
        shutil.rmtree(models, ignore_errors=True)
        train_args: list[str | Path] = [directory, "--profile", planned.profile.name]
        if planned.sample:
            train_args.append("--sample")
        why = run_in_env(env, "train.py", train_args, TRAIN_TIMEOUT_S)
        trained = time.perf_counter()
        if not why:
            why = run_in_env(env, "record.py", [models, directory / "pairs.tmp"], RECORD_TIMEOUT_S)
        if why:
            record["reason"] = why
            write_json(directory / "cell.json", record)
            log(f"{name}: {why}")
            return CellResult(directory, record)
        recorded = read_json(directory / "pairs.tmp")
        training = read_json(directory / "train.json")
        pairs = recorded.get("pairs", {})
        record.update(
            status="done",
            files=len(pairs) if isinstance(pairs, dict) else 0,
            skipped=training.get("skipped", {}),
            save_errors=training.get("save_errors", {}),
            load_errors=recorded.get("errors", {}),
            seconds={
                "env": round(built - started, 1),
                "train": round(trained - built, 1),
                "record": round(time.perf_counter() - trained, 1),
            },
        )
        (directory / "pairs.tmp").replace(directory / "pairs.json")
        write_json(directory / "cell.json", record)
        log(f"{name} on {minor}: {record['files']} files in {time.perf_counter() - started:.0f} s")
        return CellResult(directory, record)
    log(f"{name}: no Python worked")
    return CellResult(directory, record)


def build_cells(cache: Path, cells: Sequence[Planned], jobs: int) -> list[CellResult]:
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(lambda p: build_cell(cache, p), cells))


# ------------------------------------------------------------------------------ output


def cell_pairs(result: CellResult) -> dict[tuple[str, str], set[str]]:
    """(module, qualname) -> files of this cell that asked for it."""
    recorded = read_json(result.directory / "pairs.json").get("pairs", {})
    found: dict[tuple[str, str], set[str]] = {}
    if isinstance(recorded, dict):
        for filename, pairs in recorded.items():
            for module, name in pairs:
                found.setdefault((module, name), set()).add(filename)
    return found


def version_key(text: str) -> tuple[int, Version | str]:
    try:
        return (0, Version(text))
    except InvalidVersion:
        return (1, text)


def profile_document(
    profile: Profile, results: Sequence[CellResult], core: set[str]
) -> dict[str, object]:
    """The JSON document of one profile (``core``: pairs scikit-learn.json already has)."""
    allowed: dict[str, set[str]] = {}
    refused: dict[str, set[str]] = {}
    sources = []
    for result in sorted(results, key=lambda r: version_key(str(r.record["version"]))):
        if not result.done:
            continue
        version = str(result.record["version"])
        packages = result.record.get("packages", {})
        assert isinstance(packages, dict)
        keep = {profile.distribution, *KEY_PACKAGES}
        sources.append(
            {
                "python": result.record["python"],
                "packages": {k: v for k, v in sorted(packages.items()) if k in keep},
                "files": result.record["files"],
            }
        )
        for module, name in cell_pairs(result):
            key = f"{module} {name}"
            if refused_by_policy(module, name):
                refused.setdefault(key, set()).add(version)
            elif key not in core:
                allowed.setdefault(key, set()).add(version)
    return {
        "profile": profile.name,
        "distributions": [] if profile.name == CORE else [profile.distribution],
        "generated_by": GENERATED_BY,
        "sources": sources,
        "globals": {k: sorted(v, key=version_key) for k, v in sorted(allowed.items())},
        "refused_by_policy": {k: sorted(v, key=version_key) for k, v in sorted(refused.items())},
    }


def core_globals(allowlists: Path) -> set[str]:
    core = read_json(allowlists / f"{CORE}.json").get("globals", {})
    return set(core) if isinstance(core, dict) else set()


def cached_cells(cache: Path, profile: Profile) -> list[CellResult]:
    """Every cell of a profile in the cache; a failed one only when no cell of its version
    finished."""
    found = [
        CellResult(d.parent, read_json(d))
        for d in sorted((cache / profile.name).glob("*/cell.json"))
    ]

    def key(r: CellResult) -> tuple[str, str]:
        return str(r.record.get("version")), str(r.record.get("variant", ""))

    finished = {key(r) for r in found if r.done}
    return [r for r in found if r.done or key(r) not in finished]


def write_profile(allowlists: Path, cache: Path, profile: Profile) -> dict[str, object]:
    core = set() if profile.name == CORE else core_globals(allowlists)
    document = profile_document(profile, cached_cells(cache, profile), core)
    allowlists.mkdir(parents=True, exist_ok=True)
    target = allowlists / f"{profile.name}.json"
    target.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    log(f"{target}: {len(document['globals'])} globals")  # type: ignore[arg-type]
    return document


def _reasons(mapping: object) -> str:
    if not isinstance(mapping, dict) or not mapping:
        return ""
    by_reason: dict[str, list[str]] = {}
    for name, why in mapping.items():
        by_reason.setdefault(str(why), []).append(str(name))
    return "; ".join(
        f"{', '.join(sorted(names))}: {why}".replace("|", "\\|")
        for why, names in sorted(by_reason.items())
    )


FALSE_REFUSALS = "## False refusals"


def write_report(path: Path, cache: Path, wall_s: float) -> None:
    """ALLOWLIST.md: one row per cell of the cache, then what each cell skipped and why."""
    rows = [
        "# Allow-list matrix",
        "",
        f"Generated by `{GENERATED_BY}` from real model files: each row is one environment",
        "(built with uv, packages as of a few days after the library's release), in which",
        "every estimator was fitted and saved (joblib: none, zlib, gzip, bz2, lzma, xz, and lz4",
        "when installed; pickle protocols 2 and highest), then loaded by an instrumented real",
        "unpickler in a fresh process. `pairs` counts the distinct `(module, qualname)` asked for.",
        "",
        "| profile | version | Python | numpy | scipy | pandas | scikit-learn | files | pairs "
        "| skipped | time (s) | status |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    details = []
    total = 0.0
    for profile in PROFILES:
        for result in sorted(
            cached_cells(cache, profile), key=lambda r: version_key(str(r.record.get("version")))
        ):
            rec = result.record
            packages = rec.get("packages") or {}
            assert isinstance(packages, dict)
            seconds = rec.get("seconds") or {}
            assert isinstance(seconds, dict)
            cell_s = sum(float(v) for v in seconds.values())
            total += cell_s
            skipped = rec.get("skipped") or {}
            assert isinstance(skipped, dict)
            pairs = len(cell_pairs(result)) if result.done else 0
            status = "ok" if result.done else "failed: " + str(rec.get("reason", ""))[:300]
            rows.append(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.0f} | {} |".format(
                    profile.name,
                    f"{rec.get('version')} ({rec['variant']})"
                    if rec.get("variant")
                    else rec.get("version"),
                    rec.get("python", "-"),
                    packages.get("numpy", "-"),
                    packages.get("scipy", "-"),
                    packages.get("pandas", "-"),
                    packages.get("scikit-learn", "-"),
                    rec.get("files", 0),
                    pairs,
                    len(skipped),
                    cell_s,
                    status.replace("|", "\\|").replace("\n", " "),
                )
            )
            why = _reasons(skipped)
            errors = _reasons(rec.get("load_errors")) or ""
            if why or errors:
                details.append(
                    f"- **{profile.name} {rec.get('version')} {rec.get('variant', '')}"
                    f" (Python {rec.get('python')})**"
                )
                if why:
                    details.append(f"  - skipped: {why}")
                if errors:
                    details.append(f"  - files that failed to load: {errors}")
    rows += [
        "",
        f"Matrix build time (sum of the cells' env + train + record times): {total / 60:.1f} min.",
        f"Wall time of the run that wrote this report: {wall_s / 60:.1f} min.",
        "",
        "## Estimators skipped and why",
        "",
        *(details or ["none"]),
        "",
    ]
    # scripts/scan_matrix.py's section (the scanner's false refusals over these files) stays
    kept = ""
    if path.exists():
        _, marker, rest = path.read_text(encoding="utf-8").partition(FALSE_REFUSALS)
        kept = marker + rest
    path.write_text("\n".join(rows) + ("\n" + kept if kept else ""), encoding="utf-8")


# ------------------------------------------------------------------------------ sample


def missing_pairs(results: Sequence[CellResult], allowlists: Path) -> dict[str, list[str]]:
    """Pairs the sample's real unpickler asked for that the committed core list lacks
    (policy refusals excepted): "module qualname" -> "version file" where seen."""
    allowed = core_globals(allowlists)
    missing: dict[str, list[str]] = {}
    for result in results:
        for (module, name), files in cell_pairs(result).items():
            key = f"{module} {name}"
            if key not in allowed and not refused_by_policy(module, name):
                version = result.record.get("version")
                missing.setdefault(key, []).extend(f"{version} {f}" for f in sorted(files))
    return missing


def run_sample(cache: Path, allowlists: Path, jobs: int) -> int:
    pythons = pyenv_pythons()
    sklearn = releases("scikit-learn")
    cells = plan_profile(PROFILE_BY_NAME[CORE], pythons, sklearn, sample=True)
    results = build_cells(cache, cells, jobs)
    failed = [r for r in results if not r.done]
    for r in failed:
        print(f"sample cell {r.record.get('version')} failed: {r.record.get('reason')}")
    missing = missing_pairs([r for r in results if r.done], allowlists)
    for key, where in sorted(missing.items()):
        print(f"missing from {CORE}.json: {key}  (e.g. {where[0]})")
    files = sum(int(str(r.record.get("files", 0))) for r in results if r.done)
    print(
        f"sample: {len(results) - len(failed)}/{len(results)} cells, {files} files, "
        f"{len(missing)} pairs missing"
    )
    return 1 if missing or failed else 0


# -------------------------------------------------------------------------------- main


def default_cache() -> Path:
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("rebuild-env")) / CACHE_SUBDIR


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=None, help="matrix cache folder")
    parser.add_argument("--jobs", type=int, default=1, help="cells built at once")
    parser.add_argument(
        "--profiles",
        default=",".join(p.name for p in PROFILES),
        help="comma-separated profiles, scikit-learn first",
    )
    parser.add_argument("--allowlists", type=Path, default=DEFAULT_ALLOWLISTS)
    parser.add_argument("--report", type=Path, default=DEFAULT_REPORT)
    parser.add_argument("--sample", action="store_true", help="the CI check (see above)")
    args = parser.parse_args(argv)
    cache = (args.cache or default_cache()).resolve()
    cache.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    try:
        if args.sample:
            return run_sample(cache, args.allowlists, args.jobs)
        pythons = pyenv_pythons()
        log(f"cache {cache}; interpreters {', '.join(sorted(pythons, key=Version))}")
        sklearn = releases("scikit-learn")
        for name in args.profiles.split(","):
            profile = PROFILE_BY_NAME[name]
            cells = plan_profile(profile, pythons, sklearn)
            log(f"{name}: {', '.join(str(c.release.version) for c in cells)}")
            build_cells(cache, cells, args.jobs)
            write_profile(args.allowlists, cache, profile)
            write_report(args.report, cache, time.perf_counter() - started)
    except RebuildEnvError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
