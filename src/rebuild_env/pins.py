"""What a bundle records about the environment its model was saved in.

Every bundle reader produces a :class:`RecordedEnv`; the resolver never looks at the
bundle's files again. Each pin keeps the place it came from, so that the plan can say
why a version was chosen.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.version import InvalidVersion, Version

if TYPE_CHECKING:
    from .numeric_context import NumericContext

# packaging.requirements and packaging.utils (markers, tags) are imported where they are
# used: ``rebuild-env inspect MODEL`` needs neither, and they are most of its start-up.

MODEL_LOADERS = ("joblib", "pickle", "cloudpickle", "skops")


@dataclass(frozen=True)
class Pin:
    """One recorded requirement: ``scikit-learn==1.3.2`` from ``requirements.txt:4``."""

    name: str
    """Canonical distribution name (PEP 503), e.g. ``scikit-learn``."""
    specifier: str = ""
    """PEP 440 specifier set, e.g. ``==1.3.2`` or ``>=1.0,<2``; empty when unpinned."""
    source: str = ""
    """Where the pin was read, e.g. ``requirements.txt:4`` or ``bundle.yaml``."""
    extras: tuple[str, ...] = ()
    marker: str = ""
    hashes: tuple[str, ...] = ()
    """``sha256:...`` strings of acceptable files."""
    url: str = ""
    """A direct reference (``name @ URL``) when the recorder gave one."""

    @property
    def version(self) -> str | None:
        """The exact version when the pin is ``==X`` / ``===X``, else ``None``."""
        spec = self.specifier.strip()
        for op in ("===", "=="):
            if spec.startswith(op) and "," not in spec and "*" not in spec:
                return spec[len(op) :].strip()
        return None

    def requirement(self) -> str:
        """The pin as a PEP 508 requirement string."""
        extras = f"[{','.join(self.extras)}]" if self.extras else ""
        text = (
            f"{self.name}{extras} @ {self.url}"
            if self.url
            else f"{self.name}{extras}{self.specifier}"
        )
        if self.marker:
            text += f" ; {self.marker}"
        return text

    def with_source(self, source: str) -> Pin:
        """The same pin, attributed to another source."""
        return replace(self, source=source)

    @classmethod
    def parse(cls, text: str, *, source: str, hashes: tuple[str, ...] = ()) -> Pin:
        """Parse a PEP 508 requirement (raises ``packaging`` errors on bad input)."""
        from packaging.requirements import Requirement
        from packaging.utils import canonicalize_name

        req = Requirement(text)
        return cls(
            name=canonicalize_name(req.name),
            specifier=str(req.specifier),
            source=source,
            extras=tuple(sorted(req.extras)),
            marker=str(req.marker) if req.marker else "",
            hashes=hashes,
            url=req.url or "",
        )


@dataclass(frozen=True)
class PythonRecord:
    """The Python the model was saved with, as far as the bundle says."""

    version: str
    """``3.8.18``, ``3.8`` or a specifier such as ``>=3.8``."""
    source: str
    implementation: str = "cpython"

    def exact(self) -> Version | None:
        """The recorded version, when it is a plain version (``3.8`` or ``3.8.18``)."""
        try:
            return Version(self.version)
        except InvalidVersion:
            return None


@dataclass(frozen=True)
class ModelSpec:
    """The model file and how to load and call it."""

    path: Path
    loader: str = "joblib"
    method: str = "predict"
    trusted_types: tuple[str, ...] = ()
    """Types the author trusted for a ``skops`` file (MLflow's ``skops_trusted_types``)."""
    input_columns: tuple[tuple[str, str], ...] = ()
    """The input's columns and dtypes as the author recorded them (an MLflow signature)."""
    input_tensor: tuple[str, tuple[int, ...]] | None = None
    """Or the input as one tensor: dtype and shape (``-1`` for any number of rows)."""


@dataclass(frozen=True)
class Sample:
    """A recorded input and, when known, the output the model gave at save time.

    ``input_path`` is ``.npy`` (numeric or string arrays, loaded with
    ``allow_pickle=False``) or ``.json`` (a column-oriented table, see README);
    ``output_path`` is ``.npy``.
    """

    input_path: Path
    output_path: Path | None = None


@dataclass(frozen=True)
class CodeLocation:
    """Where the bundle says its author's own code is (modules the model imports)."""

    path: Path
    """A ``.py`` file, a package folder, or a folder that holds them."""
    source: str
    """Who named it: ``bundle.yaml code``, ``MLmodel code``, ``--code-path``..."""


@dataclass(frozen=True)
class IndexOptions:
    """Where packages come from, as the recorder wrote it (``--index-url`` lines...)."""

    index_url: str = ""
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()

    def requirement_lines(self) -> list[str]:
        """These options as the lines that open a requirements file."""
        lines = [f"--find-links {u}" for u in self.find_links]
        lines += [f"--extra-index-url {u}" for u in self.extra_index_urls]
        return lines + ([f"--index-url {self.index_url}"] if self.index_url else [])


@dataclass(frozen=True)
class RecordedEnv:
    """Everything a bundle records, in one value, whatever its format."""

    bundle_dir: Path
    format: str
    model: ModelSpec
    pins: tuple[Pin, ...] = ()
    constraints: tuple[Pin, ...] = ()
    """Versions allowed *if* installed (``-c constraints.txt``); they add nothing themselves."""
    python: PythonRecord | None = None
    platform: str = ""
    sample: Sample | None = None
    index: IndexOptions = field(default_factory=IndexOptions)
    notes: tuple[str, ...] = ()
    """Things the reader noticed and the user should hear about (become plan warnings)."""
    code: tuple[CodeLocation, ...] = ()
    """The author's own code the bundle ships, in the order to search it."""
    numeric: NumericContext | None = None
    """The BLAS kernel, CPU and variables the recorded outputs were computed with."""

    def pin(self, name: str) -> Pin | None:
        """The recorded pin of a distribution, by any spelling of its name."""
        from packaging.utils import canonicalize_name

        wanted = canonicalize_name(name)
        return next((p for p in self.pins if p.name == wanted), None)
