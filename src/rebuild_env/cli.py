"""Command line: argument parsing and printing only; the work is in the library."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import Any

from . import __version__
from .errors import ExitCode, RebuildEnvError, UsageError
from .help_examples import add_examples
from .options import Options

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
LEGACY_OUT_NAME = "rebuild-env-out"
"""Where earlier versions put spec files (in the cwd): such folders are no bundles either."""
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


def _normalise(argv: Sequence[str]) -> list[str]:
    args = list(argv)
    first = next((a for a in args if not a.startswith("-")), None)
    if first is not None and first not in COMMANDS and "--version" not in args:
        args.insert(0, "rebuild")
    if not args or all(a in ("-q", "--quiet", "--debug", "--json") for a in args):
        return args or ["--help"]
    return args


def _show_output(what: str, argv: tuple[str, ...], output: str) -> None:
    """``-v``: an installer's (or any command's) own output, as it ends."""
    if output.strip():
        name = what or Path(argv[0]).name
        print(f"--- {name}: {' '.join(argv[:4])} ...\n{output.rstrip()}", file=sys.stderr)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _clock(seconds: float) -> str:
    """``0:07``, ``12:30``: elapsed time as people read it."""
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}:{rest:02d}"


class _Line:
    """The spinner's text, read again at each refresh so that the elapsed time moves."""

    def __init__(self, started: float) -> None:
        self.started = started
        self.text = ""

    def __rich__(self) -> str:
        return f"[{_clock(time.monotonic() - self.started)}] {self.text}"


class _Progress:
    """One line per stage on stderr, with the elapsed time (a spinner on a terminal);
    silent when asked. Stages may carry what they are at: ``build: numpy==1.26.4``."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.tty = sys.stderr.isatty()
        self.started = time.monotonic()
        self._status: Any = None
        self._line = _Line(self.started)

    def __call__(self, stage: str, event: str) -> None:
        if not self.enabled:
            return
        if self.tty:
            if self._status is None:
                from rich.console import Console

                self._status = Console(stderr=True).status(self._line)
                self._status.start()
            if event == "start":
                self._line.text = f"{stage}…"
                self._status.update(self._line)
            return
        if event == "start":
            elapsed = _clock(time.monotonic() - self.started)
            print(f"rebuild-env: {stage}  [{elapsed}]", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None


def _run(
    args: argparse.Namespace, progress: _Progress
) -> tuple[ExitCode, str, dict[str, Any] | None]:
    if args.command == "inspect":
        from .inspect import inspect

        result = inspect(args.path)
        return ExitCode(result.exit_code), result.render_text(), result.to_json()
    if args.command == "save":
        from .save_cli import save_from_file

        saved = save_from_file(
            args.model_file,
            args.dest,
            sample_input=args.sample_input,
            method=args.method,
            trust=args.trust,
            trust_code=args.trust_code,
            code_paths=tuple(args.code_path),
            pack=args.pack_backend if args.pack else None,
            sandbox=not args.no_sandbox,
            python=args.python,
        )
        return (
            ExitCode.OK,
            f"saved bundle {saved.folder}: {args.model_file.name} as is (sha256 "
            f"{saved.model_sha256[:12]}...), versions of Python {saved.python} at "
            f"{saved.interpreter}" + (f" (packed for {args.pack_backend})" if args.pack else ""),
            {"schema_version": 1, "command": "save", "bundle": str(saved.folder)},
        )
    if args.command == "pack":
        return _pack(args, progress)
    if args.command == "cache":
        return _cache(args)
    if args.command == "verify":
        return _verify(args)
    if args.command == "compare":
        return _compare(args, progress)
    if args.command in ("run", "shell"):
        return _enter(args, progress)
    tolerance = None
    if getattr(args, "rtol", None) is not None or getattr(args, "atol", None) is not None:
        tolerance = {"rtol": args.rtol or 0.0, "atol": args.atol or 0.0}
    if tolerance is not None and getattr(args, "exact", False):
        raise UsageError("--exact contradicts --rtol/--atol", hint="pass one or the other")
    options = Options(
        backend=args.backend,
        prefix=getattr(args, "prefix", None),
        out=args.out,
        python=args.python,
        force=getattr(args, "force", False),
        dry_run=args.command == "plan" or args.dry_run,
        format=args.format,
        model=args.model,
        tolerance=tolerance,
        timeout=getattr(args, "timeout", 600.0),
        trust=args.trust,
        allow_modules=tuple(args.allow_module),
        trust_code=args.trust_code,
        code_paths=tuple(args.code_path),
        prefer_recorded=args.prefer_recorded,
        no_cache=getattr(args, "no_cache", False),
        dockerfile_dir=_emit_dir(args),
        reverify=getattr(args, "reverify", False),
        channels=tuple(args.channel),
        conda_exe=args.conda_exe,
        offline=getattr(args, "offline", False),
        sandbox=not getattr(args, "no_sandbox", False),
        exact=getattr(args, "exact", False),
        explain=getattr(args, "explain", False),
        pin_kernel=getattr(args, "pin_kernel", False),
    )
    warm = _early_warm_probe(args, options)
    from .rebuild import rebuild

    report = rebuild(args.bundle, options, progress, warm=warm)
    doc = report.to_json()
    if args.command == "plan":
        doc["command"] = "plan"
    if sys.stdout.isatty() and not (args.quiet or args.json):
        from rich.console import Console

        progress.close()
        Console().print(report.rich())
        return report.exit_code, "", doc
    return report.exit_code, report.render_text(), doc


def _enter(args: argparse.Namespace, progress: _Progress) -> tuple[ExitCode, str, dict[str, Any]]:
    """``run`` / ``shell``: the env through the cache, then the command replaces this process
    (its exit code, signals and terminal are the user's, as with ``uv run``)."""
    from .enter import activated, resolve_command, user_shell
    from .rebuild import rebuild

    options = _options(args, out=args.out, sandbox=not args.no_sandbox, pin_kernel=args.pin_kernel)
    report = rebuild(args.bundle, options, progress)
    progress.close()
    if report.prefix is None:
        raise UsageError("no environment was kept", hint="rebuild without --no-cache")
    if report.exit_code not in (ExitCode.OK, ExitCode.VERSION_WARNING, ExitCode.LOADS_ONLY):
        print(f"rebuild-env: warning: {report.headline()}", file=sys.stderr)
    env = activated(report.plan.backend, report.prefix)
    pin = report.fidelity.pin if report.fidelity is not None else None
    if args.pin_kernel and pin is not None:
        env.update(pin.env)
    command = list(args.command_line) if args.command == "run" else [user_shell(env)]
    executable = resolve_command(command, env)
    if args.command == "shell" and not args.quiet:
        print(
            f"rebuild-env: {report.activate} (in {command[0]}; `exit` leaves it)",
            file=sys.stderr,
        )
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(executable, command, env)
    raise AssertionError("unreachable: execve returned")  # pragma: no cover


def _pack(args: argparse.Namespace, progress: _Progress) -> tuple[ExitCode, str, dict[str, Any]]:
    from .pack.packing import pack_bundle

    if getattr(args, "emit", None):
        raise UsageError("pack writes no Dockerfile", hint="use --emit with rebuild or plan")
    result = pack_bundle(args.bundle, _options(args), progress)
    return ExitCode.OK, result.render_text(), result.to_json()


def _early_warm_probe(args: argparse.Namespace, options: Options) -> Any:
    """The probe of a cache hit, started before the rest of rebuild-env is even imported:
    its imports (scikit-learn's take seconds) overlap all of the host's work."""
    if args.command != "rebuild" or not options.probes_warm:
        return None
    from .verify.store import start_warm_probe

    return start_warm_probe(args.bundle, always=options.reverify, sandbox=options.sandbox)


def _verify(args: argparse.Namespace) -> tuple[ExitCode, str, dict[str, Any]]:
    from .batch import batch_exit_code, verify_all

    options = Options(
        backend=args.backend,
        timeout=args.timeout,
        trust=args.trust,
        allow_modules=tuple(args.allow_module),
        trust_code=args.trust_code,
        code_paths=tuple(args.code_path),
        prefer_recorded=args.prefer_recorded,
        channels=tuple(args.channel),
        conda_exe=args.conda_exe,
        offline=args.offline,
        sandbox=not args.no_sandbox,
    )

    if args.report is not None:
        from .registry_report import FORMATS

        if args.report.suffix.lower() not in FORMATS:
            raise UsageError(
                f"cannot tell the report format from {args.report.name!r}",
                hint="name it FILE.html or FILE.md",
            )
    address = _scheduler(args)
    given: list[Path | str] = list(map(Path, args.bundles))
    if address is not None:
        from .distributed import is_url

        given = [b if is_url(b) else Path(b) for b in args.bundles]
    bundles, skipped = _own_output_folders(given)
    loud = not (args.quiet or args.json)
    started = time.monotonic()
    done = 0
    lock = threading.Lock()  # `begin` runs in the workers: one whole line at a time

    def line(text: str) -> None:
        with lock:
            sys.stderr.write(f"rebuild-env: [{_clock(time.monotonic() - started)}] {text}\n")
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
        from .distributed import verify_on_cluster

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
    lines = _columns(table)
    lines.append(f"{passed}/{len(rows)} verified")
    if args.report is not None:
        from .registry_report import write_report

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
    return code, "\n".join(lines), doc


def _own_output_folders(
    bundles: Sequence[Path | str],
) -> tuple[list[Path | str], list[Path | str]]:
    """The bundles to verify, and the folders of spec files rebuild-env wrote itself
    (``verify */`` in a folder where ``--out`` put them): those are no bundles. A URL
    (a str, ``--scheduler`` only) is a bundle."""
    from .rebuild import OUT_MARKER

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


def _compare(args: argparse.Namespace, progress: _Progress) -> tuple[ExitCode, str, dict[str, Any]]:
    from .candidate import Upgrade
    from .compare import CompareOptions
    from .compare_report import compare

    if args.emit:
        raise UsageError(
            "compare does not emit a Dockerfile",
            hint="run rebuild-env BUNDLE --emit dockerfile DIR for the recorded environment",
        )
    options = CompareOptions(
        upgrades=tuple(Upgrade.parse(u) for u in args.upgrade),
        python=args.python,
        newest_identical=args.newest_identical,
        # --python moves only the candidate: the reference is the recorded environment
        rebuild=replace(
            _options(
                args,
                timeout=args.timeout,
                out=args.out,
                reverify=args.reverify,
                sandbox=not args.no_sandbox,
                exact=args.exact,
            ),
            python=None,
        ),
    )
    report = compare(args.bundle, options, progress)
    return report.exit_code, report.render_text(), report.to_json()


def _columns(table: Sequence[Sequence[str]]) -> list[str]:
    """Rows of text whose columns fit their content (the last column is not padded)."""
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]) - 1)]
    return [
        "  ".join([*(c.ljust(w) for c, w in zip(row, widths, strict=False)), row[-1]])
        for row in table
    ]


def _emit_dir(args: argparse.Namespace) -> Path | None:
    if not getattr(args, "emit", None):
        return None
    kind, directory = args.emit
    if kind != "dockerfile":
        raise UsageError(f"cannot emit {kind!r}", hint="use --emit dockerfile DIR")
    return Path(directory)


def _options(args: argparse.Namespace, **more: Any) -> Options:
    return Options(
        **more,
        backend=args.backend,
        python=args.python,
        format=args.format,
        model=args.model,
        trust=args.trust,
        allow_modules=tuple(args.allow_module),
        trust_code=args.trust_code,
        code_paths=tuple(args.code_path),
        prefer_recorded=args.prefer_recorded,
        channels=tuple(args.channel),
        conda_exe=args.conda_exe,
    )


def _cache(args: argparse.Namespace) -> tuple[ExitCode, str, dict[str, Any]]:
    from . import cache

    if args.cache_command == "path":
        from .rebuild import backend_for, default_prefix, plan_bundle

        options = _options(args)
        plan, _ = plan_bundle(args.bundle, options)
        prefix = default_prefix(plan, backend_for(options).channels)
        doc = {"path": str(prefix), "exists": cache.is_complete(prefix)}
        return ExitCode.OK, str(prefix), {"schema_version": 1, "command": "cache path", **doc}
    busy: tuple[cache.CachedEnv, ...] = ()
    dry_run = getattr(args, "dry_run", False)
    if args.cache_command == "list":
        found = cache.entries()
    elif args.cache_command == "prune":
        removal = cache.prune(args.older_than, dry_run=dry_run)
        found, busy = list(removal.removed), removal.in_use
    else:
        if not (args.yes or dry_run) and sys.stdin.isatty() and not _confirm_clear(cache):
            return ExitCode.OK, "nothing removed", {"schema_version": 1, "command": "cache clear"}
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
    lines = _columns(table) if found else []
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
    return ExitCode.OK, "\n".join(lines), doc


def _confirm_clear(cache: Any) -> bool:
    """Ask on the terminal before ``cache clear`` removes everything (``--yes`` skips)."""
    found = cache.entries()
    size = cache.human_size(sum(e.size for e in found))
    answer = input(f"remove {len(found)} environment(s), {size}, from {cache.envs_dir()}? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rebuild-env`` command."""
    try:
        code = _main(argv)
        sys.stdout.flush()  # inside the try: a closed pipe shows up here, not at exit
    except BrokenPipeError:
        # The reader went away (`| head -1`, `| true`): like any CLI that dies of SIGPIPE,
        # stop without a traceback; later writes (and the final flush) go nowhere.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return int(ExitCode.BROKEN_PIPE)
    if "rattler" in sys.modules:
        # py-rattler's runtime threads can still be finishing requests (another subdir,
        # another channel) when one failed; meeting a finalizing interpreter they abort it
        # (exit 134 after the answer was printed). Everything is written: leave now.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    given = list(sys.argv[1:] if argv is None else argv)
    command_line: list[str] = []
    if given and given[0] == "run" and COMMAND_SEPARATOR in given:
        split = given.index(COMMAND_SEPARATOR)
        given, command_line = given[:split], given[split + 1 :]
    args = parser.parse_args(_normalise(given))
    args.command_line = command_line
    if args.command is None:
        parser.print_help()
        return int(ExitCode.BAD_INPUT)
    if getattr(args, "no_python_downloads", False):
        from .interpreters import DOWNLOADS_VARIABLE

        os.environ[DOWNLOADS_VARIABLE] = "never"  # uv's own switch: uv obeys it too
    if getattr(args, "verbose", False):
        from . import _subprocess

        _subprocess.on_output(_show_output)
    signal.signal(signal.SIGTERM, _on_sigterm)
    progress = _Progress(enabled=not (args.quiet or args.json))
    try:
        code, text, doc = _run(args, progress)
    except RebuildEnvError as exc:
        progress.close()
        if args.debug:
            raise
        return _fail(args, exc)
    except KeyboardInterrupt:
        from ._subprocess import stop_all

        stop_all()
        progress.close()
        return _fail(
            args, UsageError("interrupted; nothing half-built was kept"), ExitCode.INTERRUPTED
        )
    except Exception as exc:
        progress.close()
        if args.debug:
            raise
        if isinstance(exc, OSError):  # any write into the cache: its own one line
            from .locations import cache_unwritable

            unwritable = cache_unwritable(exc)
            if unwritable is not None:
                return _fail(args, unwritable)
        bug = RebuildEnvError(
            f"internal error: {type(exc).__name__}: {exc}",
            hint="rerun with --debug and report it",
        )
        return _fail(args, bug)
    progress.close()
    if args.json:
        print(json.dumps(doc, indent=2))
    elif text:
        print(text)
    return int(code)


def _fail(args: argparse.Namespace, exc: RebuildEnvError, code: ExitCode | None = None) -> int:
    code = code or exc.exit_code
    output = getattr(exc, "output", "")
    if args.json:
        doc = {
            "schema_version": 1,
            "command": args.command,
            "status": "error",
            "exit_code": int(code),
            "error": exc.one_line(),
            "output": output or None,
        }
        print(json.dumps(doc, indent=2))
    else:
        if output:
            print(output, file=sys.stderr)
        print(f"rebuild-env: error: {exc.one_line()}", file=sys.stderr)
    return int(code)
