"""conda package names and version specs in PyPI's terms.

Which conda packages are Python distributions, under which PyPI name, and how a conda
version spec reads as a PEP 440 specifier. The table holds only the names that differ on
conda-forge / defaults; every other conda package is taken to be the PyPI distribution of
the same name (the reader says so in a note).
"""

from __future__ import annotations

from packaging.specifiers import InvalidSpecifier, SpecifierSet

# conda-forge / defaults names whose PyPI distribution is spelled differently.
CONDA_TO_PYPI = {
    "pytorch": "torch",
    "pytorch-cpu": "torch",
    "pytorch-gpu": "torch",
    "py-xgboost": "xgboost",
    "py-xgboost-cpu": "xgboost",
    "py-lightgbm": "lightgbm",
    "pytables": "tables",
    "msgpack-python": "msgpack",
    "py-opencv": "opencv-python",
    "opencv": "opencv-python",
    "python-graphviz": "graphviz",
    "matplotlib-base": "matplotlib",
    "dask-core": "dask",
    "pyqt": "pyqt5",
    "tensorflow-base": "tensorflow",
    "typing_extensions": "typing-extensions",
    "ruamel_yaml": "ruamel-yaml",
    "python-flatbuffers": "flatbuffers",
    "python-kaleido": "kaleido",
    "py-spy": "py-spy",
    "pillow-simd": "pillow-simd",
    "numpy-base": "",  # defaults' split of numpy: the numpy pin covers it
    "scikit-learn-intelex": "scikit-learn-intelex",
}
# conda packages that are not Python distributions (or are the installer itself).
CONDA_ONLY = frozenset(
    {
        "python",
        "pip",
        "python_abi",
        "ca-certificates",
        "openssl",
        "ncurses",
        "readline",
        "sqlite",
        "tk",
        "xz",
        "zlib",
        "zstd",
        "bzip2",
        "tzdata",
        "icu",
        "krb5",
        "git",
        "gdal",
        "mkl",
        "intel-openmp",
        "openblas",
        "blas",
        "llvm-openmp",
        "cudatoolkit",
        "cudnn",
        "cuda-version",
        "nccl",
        "ld_impl_linux-64",
        "yaml",
        "expat",
        "gettext",
        "c-ares",
        "lz4-c",
        "snappy",
        "xorg-libxau",
        "xorg-libxdmcp",
        "vc",
        "vs2015_runtime",
        "ucrt",
        "vc14_runtime",
        "fontconfig",
        "freetype",
    }
)
NATIVE_PREFIXES = ("lib", "_", "gcc", "gxx", "clang", "cuda-", "xorg-", "font-", "fonts-", "mkl-")


def pep440_specifier(conda_version: str, *, exact: bool) -> str:
    """A conda version spec as a PEP 440 specifier; ``""`` when it has no equivalent.

    conda's ``=1.2.3`` (shown by rattler as ``1.2.3.*``) names that release and its
    rebuilds; with three or more components it becomes ``==1.2.3``, shorter ones
    ``==1.2.*``. A version with a build string is exact.
    """
    text = conda_version.replace(" ", "")
    if not text or text == "*" or "|" in text:
        return ""
    parts = []
    for part in text.split(","):
        if part.endswith(".*") and part[0].isdigit():
            release = part[:-2]
            parts.append(f"=={release}" if exact or release.count(".") >= 2 else f"=={part}")
        elif part[0].isdigit():
            parts.append(f"=={part}")
        else:
            parts.append(part)
    candidate = ",".join(parts)
    try:
        SpecifierSet(candidate)
    except InvalidSpecifier:
        return ""
    return candidate


def is_python_package(name: str, build: str | None) -> bool:
    """Whether a conda package is also a PyPI distribution (by name, else by build string)."""
    if name in CONDA_TO_PYPI:
        return bool(CONDA_TO_PYPI[name])
    if name in CONDA_ONLY or name.startswith(NATIVE_PREFIXES):
        return False
    if build:
        # conda-forge and defaults build Python packages as py*/pyh* (noarch) builds.
        return build.startswith("py") or "_py" in build or build.startswith("np")
    return True
