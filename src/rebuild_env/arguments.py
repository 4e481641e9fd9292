"""The argument parser of ``rebuild-env``: sub-commands, their flags, help and examples."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import __version__
from .help_examples import add_examples

COMMANDS = (
    "rebuild",
    "plan",
    "inspect",
    "save",
    "cache",
    "verify",
    "pack",
    "compare",
    "run",
    "shell",
)
COMMAND_SEPARATOR = "--"
EXIT_CODES_HELP = """exit codes:
  0  verified (identical predictions, or the highest level the bundle allows)
  1  internal error (a bug: please report it, with --debug output)
  2  bad input: usage, missing/malformed bundle, existing prefix without --force
  3  cannot resolve: no interpreter of the recorded Python, unsatisfiable pins
  4  build failed: the installer's error is shown
  5  the model failed to load or predict in the rebuilt environment
  6  predictions differ from the recorded ones
  7  the model file was refused as unsafe (static scan or restricted unpickler)
  8  verification timed out
  9  verified, but the model warned that it was saved by another library version
 10  the model loads, but no recorded or generated input could check that it predicts
 11  compare: the candidate loads the model but fails to predict
 12  compare: the candidate fails to load the model
130  interrupted
141  stdout was closed early (`| head`): nothing more was written"""


COMPARE_EXIT_CODES = """exit codes (compare):
  0  identical (bit for bit), or the search found its answer
  2  bad input: unknown distribution or version in --upgrade, nothing to search
  3  the candidate cannot be resolved for its Python
  5  the model does not load or predict in its recorded environment (nothing to compare)
  6  differs: the candidate predicts other values
  8  a probe timed out
 11  fails to predict: the candidate loads the model but predicting raises
 12  fails to load: the candidate cannot load the model"""


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="show the installer's own output on stderr"
    )


def _backend_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend",
        choices=("venv", "conda"),
        default="venv",
        help="venv: a virtualenv of a local (or downloaded) Python, packages by uv; conda: a "
        "conda prefix solved by py-rattler (default: venv)",
    )
    parser.add_argument(
        "--no-python-downloads",
        action="store_true",
        help="never download a Python the machine lacks (also: UV_PYTHON_DOWNLOADS=never)",
    )
    parser.add_argument(
        "-c",
        "--channel",
        action="append",
        default=[],
        metavar="CHANNEL",
        help="conda channel: name, URL or local directory (repeatable, first wins; "
        "default: $REBUILD_ENV_CONDA_CHANNELS, else conda-forge)",
    )
    parser.add_argument(
        "--conda-exe",
        metavar="TOOL",
        help="install the conda packages with conda, mamba, micromamba or the path to one "
        "(default: the built-in py-rattler engine)",
    )


def _code_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--trust-code",
        action="store_true",
        help="import the author's own modules the model needs (review them first); "
        "only the classes the scan found in them are allowed",
    )
    parser.add_argument(
        "--code-path",
        action="append",
        default=[],
        type=Path,
        metavar="DIR",
        help="where the author's modules are: a folder, .py file or package (repeatable, "
        "searched before the bundle)",
    )


def _sandbox_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-sandbox",
        action="store_true",
        help="run the model without the OS sandbox (which keeps it from writing outside its "
        "folder and from the network)",
    )


_EXACT_HELP = (
    "only bit-identical outputs pass: a difference within floating-point noise (another "
    "BLAS kernel) is exit 6 too"
)


def _pin_kernel_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--pin-kernel",
        action="store_true",
        help="make the env compute as the recorded machine did: its activation script, "
        "`run`/`shell` and --emit dockerfile set the recorded BLAS kernel and thread count "
        "(OPENBLAS_CORETYPE, MKL_CBWR...)",
    )


def _fidelity_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--exact", action="store_true", help=_EXACT_HELP)
    parser.add_argument(
        "--explain",
        action="store_true",
        help="when the outputs are not identical and the bundle records no BLAS kernel, "
        "probe again under each kernel this CPU can run (about five runs) and say which "
        "one computed the recorded outputs",
    )
    _pin_kernel_arg(parser)


def _bundle_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bundle", type=Path, help="bundle folder or model file")
    _backend_args(parser)
    parser.add_argument("--python", help="Python version (3.8) or interpreter path to use")
    parser.add_argument(
        "--out",
        type=Path,
        help="where spec files go (default: beside the env in the cache; the report says where)",
    )
    parser.add_argument("--format", help="force a bundle format (default: detected)")
    parser.add_argument("--model", type=Path, help="the model file, when the bundle has several")
    parser.add_argument(
        "--trust", action="store_true", help="load the model even if the scan refuses it"
    )
    parser.add_argument(
        "--allow-module",
        action="append",
        default=[],
        metavar="NAME",
        help="allow globals from this module in the model file (repeatable)",
    )
    _code_args(parser)
    parser.add_argument(
        "--prefer-recorded",
        action="store_true",
        help="keep recorded pins that contradict the version that wrote the model",
    )
    parser.add_argument(
        "--emit",
        nargs=2,
        metavar=("dockerfile", "DIR"),
        help="also write a Dockerfile (+ the files it copies) that rebuilds and verifies",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (sub-commands; a bare BUNDLE means ``rebuild BUNDLE``)."""
    parser = argparse.ArgumentParser(
        prog="rebuild-env",
        description="Rebuild the environment a saved model needs, and prove it works.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"rebuild-env {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    rebuild = sub.add_parser(
        "rebuild",
        help="rebuild and verify (the default command)",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _bundle_args(rebuild)
    rebuild.add_argument(
        "--prefix", type=Path, help="where the environment goes (default: per-user cache)"
    )
    rebuild.add_argument(
        "--force", action="store_true", help="replace an existing environment at --prefix"
    )
    rebuild.add_argument(
        "--dry-run", action="store_true", help="plan and write spec files, build nothing"
    )
    rebuild.add_argument(
        "--reverify",
        action="store_true",
        help="run the probe even if this env already verified this model and sample",
    )
    rebuild.add_argument(
        "--offline",
        action="store_true",
        help="install only what the bundle carries (see `pack`): no index, no network",
    )
    rebuild.add_argument(
        "--no-cache",
        action="store_true",
        help="build in a temporary prefix and remove it after verifying (no cache used)",
    )
    rebuild.add_argument(
        "--timeout", type=float, default=600.0, help="seconds the probe may take (600)"
    )
    rebuild.add_argument("--rtol", type=float, help="relative tolerance (default: exact)")
    rebuild.add_argument("--atol", type=float, help="absolute tolerance (default: exact)")
    _fidelity_args(rebuild)
    _sandbox_arg(rebuild)
    _common(rebuild)

    plan = sub.add_parser("plan", help="show the plan and write spec files (same as --dry-run)")
    _bundle_args(plan)
    _common(plan)

    inspect = sub.add_parser("inspect", help="scan a model file or bundle without running it")
    inspect.add_argument("path", type=Path)
    _common(inspect)

    save = sub.add_parser("save", help="save a model file of yours as a rebuild-env bundle")
    save.add_argument("model_file", type=Path, help="a joblib/pickle file you wrote")
    save.add_argument("dest", type=Path, help="new bundle folder")
    save.add_argument("--sample-input", type=Path, help=".npy or .csv input to record outputs for")
    save.add_argument("--method", default="predict")
    save.add_argument("--trust", action="store_true", help="save even if the scan refuses the file")
    save.add_argument(
        "--python",
        type=Path,
        metavar="PATH",
        help="the interpreter of the environment that trained the model: its versions are "
        "recorded and it computes the sample's outputs (default: this one, if its versions "
        "agree with the file's)",
    )
    _code_args(save)
    save.add_argument(
        "--pack", action="store_true", help="also store the artifacts a rebuild installs (pack)"
    )
    save.add_argument("--pack-backend", choices=("venv", "conda"), default="venv")
    _sandbox_arg(save)
    _common(save)

    verify = sub.add_parser("verify", help="rebuild (through the cache) and verify many bundles")
    verify.add_argument(
        "bundles",
        nargs="+",
        metavar="BUNDLE",
        help="bundle folders or model files; with --scheduler also fsspec URLs (s3://...)",
    )
    _backend_args(verify)
    verify.add_argument(
        "--jobs", "-j", type=int, default=1, help="bundles verified at once (on this machine)"
    )
    verify.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="verify on a Dask cluster: tcp://HOST:PORT of its scheduler, one task per bundle "
        "(default: $DASK_SCHEDULER_ADDRESS; needs rebuild-env[dask])",
    )
    verify.add_argument("--timeout", type=float, default=600.0, help="seconds each probe may take")
    verify.add_argument("--trust", action="store_true", help="load models the scan refuses")
    verify.add_argument(
        "--allow-module",
        action="append",
        default=[],
        metavar="NAME",
        help="allow globals from this module in the model files (repeatable)",
    )
    verify.add_argument(
        "--report",
        type=Path,
        metavar="FILE",
        help="also write a report for people: FILE.html (one self-contained page) or FILE.md",
    )
    _code_args(verify)
    verify.add_argument("--prefer-recorded", action="store_true")
    verify.add_argument(
        "--offline", action="store_true", help="install only what each bundle carries"
    )
    _sandbox_arg(verify)
    _common(verify)

    compare = sub.add_parser(
        "compare",
        help="does the model predict the same after an upgrade? (recorded env vs candidate)",
        epilog=COMPARE_EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _bundle_args(compare)
    compare.add_argument(
        "--upgrade",
        action="append",
        default=[],
        required=True,
        metavar="REQ",
        help="NAME==VERSION for the candidate (repeatable); with --newest-identical, one "
        "NAME or NAME with a range (scikit-learn<1.3) to search",
    )
    compare.add_argument(
        "--newest-identical",
        action="store_true",
        help="search the releases for the newest one that still predicts identically",
    )
    compare.add_argument(
        "--timeout", type=float, default=600.0, help="seconds each probe may take (600)"
    )
    compare.add_argument(
        "--reverify",
        action="store_true",
        help="probe the reference again even if its env kept this model's outputs",
    )
    compare.add_argument(
        "--exact", action="store_true", help=_EXACT_HELP.replace("recorded", "reference")
    )
    _sandbox_arg(compare)
    _common(compare)

    run = sub.add_parser(
        "run",
        help="rebuild (through the cache) and run a command in the env: run BUNDLE -- CMD ARGS",
    )
    _bundle_args(run)
    _pin_kernel_arg(run)
    _sandbox_arg(run)
    _common(run)
    shell = sub.add_parser("shell", help="rebuild (through the cache) and open a shell in the env")
    _bundle_args(shell)
    _pin_kernel_arg(shell)
    _sandbox_arg(shell)
    _common(shell)

    pack = sub.add_parser(
        "pack", help="store every artifact the plan installs in the bundle (for --offline)"
    )
    _bundle_args(pack)
    _common(pack)

    cache = sub.add_parser("cache", help="list, locate, prune or clear cached environments")
    cache_sub = cache.add_subparsers(dest="cache_command", metavar="ACTION", required=True)
    _common(cache_sub.add_parser("list", help="cached environments with sizes"))
    path = cache_sub.add_parser("path", help="where BUNDLE's cached environment is (or would be)")
    _bundle_args(path)
    _common(path)
    prune = cache_sub.add_parser("prune", help="remove incomplete and long-unused environments")
    prune.add_argument("--older-than", type=float, metavar="DAYS", help="unused for DAYS days")
    prune.add_argument("--dry-run", action="store_true", help="list what would be removed")
    _common(prune)
    clear = cache_sub.add_parser("clear", help="remove every cached environment")
    clear.add_argument("--yes", "-y", action="store_true", help="do not ask (on a terminal)")
    clear.add_argument("--dry-run", action="store_true", help="list what would be removed")
    _common(clear)
    add_examples(parser)
    return parser
