"""The numeric context of a run: which BLAS kernel computed the outputs, on which CPU.

NumPy's OpenBLAS picks a kernel for the CPU it runs on (Sandybridge, Haswell, SkylakeX,
Zen...), MKL a code path; each sums in its own order, so the last bits of a dot product
differ from one machine to the next with exactly the same packages. ``save`` records the
context the outputs were computed in (``bundle.yaml``'s ``numeric_context``, captured by the
probe in the training environment: threadpoolctl's ``threadpool_info()``, the CPU model and
flags, the environment variables that steer the kernels), and a rebuild reproduces it when
this CPU can run that kernel: the probe runs with ``OPENBLAS_CORETYPE`` (or ``MKL_CBWR``)
and the recorded thread count. Without a record, ``--explain`` tries the kernels this CPU
can run (:func:`explain_kernels`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CPUINFO = Path("/proc/cpuinfo")
OPENBLAS = "openblas"
MKL = "mkl"
CORETYPE_VAR = "OPENBLAS_CORETYPE"
OPENBLAS_THREADS_VAR = "OPENBLAS_NUM_THREADS"
MKL_CBWR_VAR = "MKL_CBWR"
MKL_THREADS_VAR = "MKL_NUM_THREADS"
OMP_THREADS_VAR = "OMP_NUM_THREADS"
RECORDED_VARS = (
    CORETYPE_VAR,
    OPENBLAS_THREADS_VAR,
    OMP_THREADS_VAR,
    MKL_CBWR_VAR,
    MKL_THREADS_VAR,
    "MKL_ENABLE_INSTRUCTIONS",
    "MKL_DEBUG_CPU_TYPE",
    "OPENBLAS_VERBOSE",
    "GOTO_NUM_THREADS",
)
"""The environment variables that choose a kernel, a code path or a thread count."""

_AVX512 = ("avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl")
# OpenBLAS's x86-64 kernels (DYNAMIC_ARCH), oldest first, with the CPU flags each needs
# (as /proc/cpuinfo names them; SSE3 is "pni"). Older kernels run on newer CPUs.
OPENBLAS_KERNELS: dict[str, tuple[str, ...]] = {
    "Katmai": ("sse",),  # what threadpoolctl reports for OpenBLAS's generic Prescott build
    "Prescott": ("pni",),
    "Core2": ("ssse3",),
    "Nehalem": ("ssse3", "sse4_1", "sse4_2"),
    "Sandybridge": ("avx",),
    "Haswell": ("avx2", "fma"),
    "Zen": ("avx2", "fma"),
    "SkylakeX": _AVX512,
    "Cooperlake": (*_AVX512, "avx512_bf16"),
    "SapphireRapids": (*_AVX512, "avx512_bf16", "avx512_fp16", "amx_tile"),
}
# The kernels --explain tries (each gives other bits here; Core2/Katmai compute as Prescott
# does, Zen as Haswell, and builds without Cooperlake/SapphireRapids fall back to SkylakeX).
EXPLAIN_ORDER = ("Haswell", "SkylakeX", "Sandybridge", "Nehalem", "Prescott")
# The kernel OpenBLAS picks by itself on a CPU: the newest of these it can run.
_NATURAL_LADDER = ("Prescott", "Nehalem", "Sandybridge", "Haswell", "SkylakeX")
# MKL_CBWR code paths (newest first) with the flags each needs.
MKL_BRANCHES: dict[str, tuple[str, ...]] = {
    "AVX512": _AVX512,
    "AVX2": ("avx2", "fma"),
    "AVX": ("avx",),
    "SSE4_2": ("sse4_2",),
    "COMPATIBLE": (),
}
# Flags kept in the record: those that decide a kernel (a full list is ~150 names).
SUMMARY_FLAGS = tuple(
    sorted(
        {f for flags in (*OPENBLAS_KERNELS.values(), *MKL_BRANCHES.values()) for f in flags}
        | {"sse2", "avx512_vnni"}
    )
)


@dataclass(frozen=True)
class BlasLibrary:
    """One library of threadpoolctl's ``threadpool_info()``."""

    internal_api: str
    """``openblas``, ``mkl``, ``blis``, ``openmp``..."""
    version: str = ""
    architecture: str = ""
    """The OpenBLAS kernel (``SkylakeX``); empty for MKL (its code path is ``MKL_CBWR``)."""
    num_threads: int = 0
    threading_layer: str = ""
    prefix: str = ""
    """``libscipy_openblas``, ``libmkl_rt``: tells numpy's copy from scipy's."""

    def to_json(self) -> dict[str, Any]:
        """As in ``bundle.yaml`` and the reports."""
        return {
            "internal_api": self.internal_api,
            "version": self.version,
            "architecture": self.architecture,
            "num_threads": self.num_threads,
            "threading_layer": self.threading_layer,
            "prefix": self.prefix,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BlasLibrary:
        """Read leniently: a missing field is empty."""
        threads = data.get("num_threads")
        return cls(
            internal_api=str(data.get("internal_api") or ""),
            version=str(data.get("version") or ""),
            architecture=str(data.get("architecture") or ""),
            num_threads=threads
            if isinstance(threads, int) and not isinstance(threads, bool)
            else 0,
            threading_layer=str(data.get("threading_layer") or ""),
            prefix=str(data.get("prefix") or ""),
        )

    def describe(self) -> str:
        """``OpenBLAS 0.3.31 SkylakeX, 2 threads``."""
        name = {OPENBLAS: "OpenBLAS", MKL: "MKL"}.get(self.internal_api, self.internal_api)
        parts = [name, self.version, self.architecture]
        text = " ".join(p for p in parts if p)
        return f"{text}, {self.num_threads} thread{'s' if self.num_threads != 1 else ''}"


@dataclass(frozen=True)
class NumericContext:
    """Where outputs were computed: BLAS libraries, CPU, the variables that steer them."""

    libraries: tuple[BlasLibrary, ...] = ()
    cpu_model: str = ""
    cpu_flags: tuple[str, ...] = ()
    """The flags of :data:`SUMMARY_FLAGS` the CPU has."""
    env: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The ``numeric_context`` section of ``bundle.yaml`` (and of reports)."""
        return {
            "blas": [lib.to_json() for lib in self.libraries],
            "cpu": {"model": self.cpu_model, "flags": list(self.cpu_flags)},
            "env": dict(self.env),
        }

    @classmethod
    def from_json(cls, data: object) -> NumericContext | None:
        """The section as recorded (``None`` when absent or not a mapping)."""
        if not isinstance(data, Mapping):
            return None
        blas = data.get("blas")
        cpu = data.get("cpu")
        cpu = cpu if isinstance(cpu, Mapping) else {}
        env = data.get("env")
        env = env if isinstance(env, Mapping) else {}
        flags = cpu.get("flags")
        flags = flags if isinstance(flags, list) else []
        libraries = blas if isinstance(blas, list) else []
        return cls(
            libraries=tuple(
                BlasLibrary.from_json(lib) for lib in libraries if isinstance(lib, Mapping)
            ),
            cpu_model=str(cpu.get("model") or ""),
            cpu_flags=tuple(str(f) for f in flags),
            env={str(k): str(v) for k, v in env.items()},
        )

    @property
    def blas(self) -> BlasLibrary | None:
        """The BLAS that computed the outputs: numpy's (the first one loaded), if any."""
        return next((lib for lib in self.libraries if lib.internal_api in (OPENBLAS, MKL)), None)

    def kernel(self) -> str:
        """``OpenBLAS SkylakeX`` / ``MKL AVX2``: what a user reads; empty when unknown."""
        lib = self.blas
        if lib is None:
            return ""
        if lib.internal_api == MKL:
            branch = self.env.get(MKL_CBWR_VAR) or mkl_branch(self.cpu_flags)
            return f"MKL {branch}" if branch else "MKL"
        return f"OpenBLAS {lib.architecture}" if lib.architecture else "OpenBLAS"


@dataclass(frozen=True)
class Cpu:
    """This machine's CPU, as /proc/cpuinfo tells it."""

    model: str = ""
    flags: frozenset[str] = frozenset()

    def runs(self, needs: Sequence[str]) -> bool:
        """Whether this CPU has every flag in ``needs``."""
        return all(f in self.flags for f in needs)


def this_cpu(path: Path = CPUINFO) -> Cpu:
    """The CPU model and flags (empty on a system without /proc/cpuinfo)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return Cpu()
    model, flags = "", ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and not model:
            model = value.strip()
        elif key == "flags" and not flags:
            flags = value
    return Cpu(model, frozenset(flags.split()))


def mkl_branch(flags: Sequence[str] | frozenset[str]) -> str:
    """The MKL code path a CPU with ``flags`` takes by itself (``AVX2``)."""
    have = set(flags)
    return next(name for name, needs in MKL_BRANCHES.items() if all(f in have for f in needs))


def natural_kernel(cpu: Cpu) -> str:
    """The OpenBLAS kernel this CPU gets by default (the newest of the common ladder)."""
    runnable = [k for k in _NATURAL_LADDER if cpu.runs(OPENBLAS_KERNELS[k])]
    return runnable[-1] if runnable else ""


def _kernel_name(name: str) -> str | None:
    """The canonical spelling of an OpenBLAS kernel name (OpenBLAS ignores case)."""
    return next((k for k in OPENBLAS_KERNELS if k.lower() == name.lower()), None)


@dataclass(frozen=True)
class KernelPin:
    """The environment variables that make this machine compute as the recorded one did."""

    kernel: str
    """``OpenBLAS Sandybridge`` / ``MKL AVX2``."""
    env: dict[str, str]
    here: str = ""
    """The kernel this machine would have picked (``OpenBLAS SkylakeX``)."""

    def assignments(self) -> str:
        """``OPENBLAS_CORETYPE=Sandybridge OPENBLAS_NUM_THREADS=4``."""
        return " ".join(f"{k}={v}" for k, v in sorted(self.env.items()))


@dataclass(frozen=True)
class PinDecision:
    """What the record asks for and whether it is applied here."""

    pin: KernelPin | None = None
    note: str = ""
    """Why nothing is pinned (a kernel this CPU cannot run), else empty."""


def _threads(lib: BlasLibrary, var: str, recorded: NumericContext) -> dict[str, str]:
    """The recorded thread count (a summation split over threads rounds differently)."""
    if recorded.env.get(var):
        return {var: recorded.env[var]}
    return {var: str(lib.num_threads)} if lib.num_threads > 0 else {}


def pin_for(recorded: NumericContext | None, cpu: Cpu) -> PinDecision:
    """The pin that reproduces the recorded kernel here, when it differs and this CPU runs it."""
    lib = recorded.blas if recorded is not None else None
    if recorded is None or lib is None:
        return PinDecision()
    if lib.internal_api == MKL:
        branch = recorded.env.get(MKL_CBWR_VAR) or mkl_branch(recorded.cpu_flags)
        base = branch.split(",")[0].upper()
        if base in MKL_BRANCHES and not cpu.runs(MKL_BRANCHES[base]):
            return PinDecision(note=f"the recorded MKL {branch} code path needs a newer CPU")
        env = {MKL_CBWR_VAR: branch, **_threads(lib, MKL_THREADS_VAR, recorded)}
        return PinDecision(KernelPin(f"MKL {branch}", env, f"MKL {mkl_branch(cpu.flags)}"))
    kernel = _kernel_name(recorded.env.get(CORETYPE_VAR) or lib.architecture)
    if kernel is None:
        return PinDecision(note=f"unknown OpenBLAS kernel {lib.architecture!r} in the record")
    here = natural_kernel(cpu)
    if not cpu.runs(OPENBLAS_KERNELS[kernel]):
        return PinDecision(note=f"this CPU cannot run the recorded OpenBLAS {kernel} kernel")
    threads = _threads(lib, OPENBLAS_THREADS_VAR, recorded)
    if kernel == here and not recorded.env.get(CORETYPE_VAR):
        return PinDecision(KernelPin(f"OpenBLAS {kernel}", threads, f"OpenBLAS {here}"))
    env = {CORETYPE_VAR: kernel, **threads}
    return PinDecision(KernelPin(f"OpenBLAS {kernel}", env, f"OpenBLAS {here}"))


def explain_kernels(cpu: Cpu, tried: Sequence[str] = ()) -> list[str]:
    """The OpenBLAS kernels ``--explain`` runs the probe under: those this CPU can run,
    most common first, without those already tried (names as :data:`OPENBLAS_KERNELS`)."""
    done = {k.lower() for k in tried}
    return [k for k in EXPLAIN_ORDER if cpu.runs(OPENBLAS_KERNELS[k]) and k.lower() not in done]


def activation_lines(env: Mapping[str, str]) -> list[str]:
    """Shell lines that set the pin (for an activation script or a Dockerfile's ENV)."""
    return [f"export {k}={v}" for k, v in sorted(env.items())]


PIN_BEGIN = "# >>> rebuild-env kernel pin >>>"
PIN_END = "# <<< rebuild-env kernel pin <<<"
CONDA_PIN_SCRIPT = "rebuild-env-kernel-pin.sh"


def _with_block(text: str, block: list[str]) -> str:
    """``text`` with its pin block (between the markers) replaced by ``block``."""
    start, end = text.find(PIN_BEGIN), text.find(PIN_END)
    if start != -1 and end > start:
        text = text[:start] + text[end + len(PIN_END) :].lstrip("\n")
    return text.rstrip("\n") + "\n" + "\n".join([PIN_BEGIN, *block, PIN_END]) + "\n"


def write_kernel_pin(backend: str, prefix: Path, env: Mapping[str, str]) -> str:
    """Make activating the env set ``env`` (``--pin-kernel``); the line the report shows.

    A venv's ``bin/activate`` gets a marked block (rewritten, never duplicated, on the next
    run); a conda env gets an ``activate.d`` script and a ``deactivate.d`` one that unsets.
    """
    names = " ".join(sorted(env))
    if backend == "conda":
        for kind, lines in (
            ("activate.d", activation_lines(env)),
            ("deactivate.d", [f"unset {names}"]),
        ):
            folder = prefix / "etc" / "conda" / kind
            folder.mkdir(parents=True, exist_ok=True)
            (folder / CONDA_PIN_SCRIPT).write_text("\n".join(lines) + "\n", encoding="utf-8")
        where = prefix / "etc" / "conda" / "activate.d" / CONDA_PIN_SCRIPT
    else:
        where = prefix / "bin" / "activate"
        if not where.is_file():
            return f"no {where} to carry the kernel pin"
        block = activation_lines(env)  # `deactivate` leaves them set (it knows only its own)
        where.write_text(_with_block(where.read_text(encoding="utf-8"), block), encoding="utf-8")
    pairs = " ".join(f"{k}={v}" for k, v in sorted(env.items()))
    return f"activating the env sets {pairs} ({where})"
