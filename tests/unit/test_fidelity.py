"""Floating-point noise vs a wrong environment, on this machine's real OpenBLAS kernels.

The "colleague's" outputs are computed in a subprocess with ``OPENBLAS_CORETYPE=Sandybridge``
(another kernel, same packages); this machine's default kernel (Haswell/SkylakeX) gives the
same model other last bits. Both the probe's ``compare`` (inside an env, numpy) and the
host's ``diff_outputs`` (pure Python) must call that noise, and a real change not.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rebuild_env.bundle.formats.manifest import read
from rebuild_env.numeric_context import (
    Cpu,
    NumericContext,
    explain_kernels,
    natural_kernel,
    pin_for,
    this_cpu,
    write_kernel_pin,
)
from rebuild_env.verify import probe
from rebuild_env.verify.fidelity import NOISE_ULPS
from rebuild_env.verify.output_diff import diff_outputs

MODELS = """
import sys, numpy as np, joblib
from sklearn.datasets import make_classification, make_regression
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.neural_network import MLPClassifier
from sklearn.svm import SVC
out = sys.argv[1]
X, y = make_classification(n_samples=300, n_features=20, n_informative=10, n_classes=3,
                           random_state=0)
Xr, yr = make_regression(n_samples=300, n_features=20, random_state=0)
np.save(out + "/logreg.npy", LogisticRegression(max_iter=1000).fit(X, y).predict_proba(X))
np.save(out + "/mlp.npy", MLPClassifier((50,), max_iter=300, random_state=0).fit(X, y)
        .predict_proba(X))
np.save(out + "/svc.npy", SVC(probability=True, random_state=0).fit(X, y).predict_proba(X))
np.save(out + "/ridge.npy", Ridge().fit(Xr, yr).predict(Xr))
np.save(out + "/labels.npy", LogisticRegression(max_iter=1000).fit(X, y).predict(X))
"""
KINDS = {"logreg": "predict_proba", "mlp": "predict_proba", "svc": "predict_proba",
         "ridge": "predict"}  # fmt: skip
OTHER_KERNEL = "Sandybridge"

pytestmark = pytest.mark.skipif(
    natural_kernel(this_cpu()) not in ("Haswell", "SkylakeX"),
    reason="needs a CPU whose own OpenBLAS kernel is not Sandybridge's",
)


def _outputs(folder: Path, coretype: str | None) -> Path:
    folder.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENBLAS_", "MKL_"))}
    if coretype:
        env["OPENBLAS_CORETYPE"] = coretype
    subprocess.run([sys.executable, "-c", MODELS, folder], env=env, check=True, timeout=300)
    return folder


@pytest.fixture(scope="module")
def kernels(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(this machine's outputs, the "colleague's" under another kernel)."""
    root = tmp_path_factory.mktemp("kernels")
    return _outputs(root / "here", None), _outputs(root / "colleague", OTHER_KERNEL)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_another_kernel_is_noise_on_both_sides(kernels: tuple[Path, Path], kind: str) -> None:
    here, colleague = kernels
    mine = np.load(here / f"{kind}.npy")
    assert mine.tobytes() != np.load(colleague / f"{kind}.npy").tobytes(), "kernels agree here"
    found = probe.compare(mine, str(colleague / f"{kind}.npy"), None, NOISE_ULPS, KINDS[kind])
    assert not found["identical"]
    assert found["within_noise"], found
    assert 0 < found["max_ulp"] <= NOISE_ULPS
    assert found["labels_identical"] is True
    host = diff_outputs(
        kind, colleague / f"{kind}.npy", here / f"{kind}.npy", method=KINDS[kind],
        noise_ulps=NOISE_ULPS,
    )  # fmt: skip
    assert host.within_noise and not host.identical
    assert host.max_ulp == pytest.approx(found["max_ulp"])


def test_labels_are_identical_and_a_perturbed_output_differs(
    kernels: tuple[Path, Path], tmp_path: Path
) -> None:
    here, colleague = kernels
    labels = probe.compare(np.load(here / "labels.npy"), str(colleague / "labels.npy"), None)
    assert labels["identical"]
    perturbed = np.load(colleague / "logreg.npy")
    perturbed[7, 1] += 1e-9  # a changed library moves outputs by this much and more
    np.save(tmp_path / "perturbed.npy", perturbed)
    found = probe.compare(np.load(here / "logreg.npy"), str(tmp_path / "perturbed.npy"), None)
    assert not found["within_noise"] and found["max_ulp"] > 1e6
    host = diff_outputs("p", tmp_path / "perturbed.npy", here / "logreg.npy",
                        method="predict_proba", noise_ulps=NOISE_ULPS)  # fmt: skip
    assert not host.within_noise


def test_a_flipped_label_is_not_noise(tmp_path: Path) -> None:
    exp = np.array([[0.5 + 1e-16, 0.5 - 1e-16], [0.2, 0.8]])
    out = np.array([[0.5 - 1e-16, 0.5 + 1e-16], [0.2, 0.8]])
    np.save(tmp_path / "e.npy", exp)
    found = probe.compare(out, str(tmp_path / "e.npy"), None, NOISE_ULPS, "predict_proba")
    assert found["max_ulp"] <= NOISE_ULPS and found["labels_identical"] is False
    assert not found["within_noise"]


RECORDED = {
    "blas": [
        {"internal_api": "openmp", "num_threads": 8},
        {
            "internal_api": "openblas",
            "version": "0.3.27",
            "architecture": "Sandybridge",
            "num_threads": 8,
            "threading_layer": "pthreads",
            "prefix": "libscipy_openblas",
        },
    ],
    "cpu": {"model": "Intel Core i7-2600", "flags": ["avx", "sse4_2"]},
    "env": {},
}
SKYLAKE_FLAGS = "pni ssse3 sse4_1 sse4_2 avx avx2 fma avx512f avx512cd avx512bw avx512dq avx512vl"
SKYLAKE = Cpu("x", frozenset(SKYLAKE_FLAGS.split()))
OLD_CPU = Cpu("y", frozenset(["pni", "ssse3", "sse4_1", "sse4_2"]))


def test_pin_for_an_older_recorded_kernel_and_none_for_a_newer_one() -> None:
    context = NumericContext.from_json(RECORDED)
    decision = pin_for(context, SKYLAKE)
    assert decision.pin is not None
    assert decision.pin.env == {"OPENBLAS_CORETYPE": "Sandybridge", "OPENBLAS_NUM_THREADS": "8"}
    assert decision.pin.here == "OpenBLAS SkylakeX"
    refused = pin_for(context, OLD_CPU)
    assert refused.pin is None and "cannot run" in refused.note
    assert pin_for(None, SKYLAKE).pin is None
    mkl = NumericContext.from_json(
        {"blas": [{"internal_api": "mkl", "num_threads": 4}], "cpu": {"flags": ["avx2", "fma"]}}
    )
    assert pin_for(mkl, SKYLAKE).pin.env == {"MKL_CBWR": "AVX2", "MKL_NUM_THREADS": "4"}  # type: ignore[union-attr]
    assert explain_kernels(SKYLAKE, tried=["SkylakeX"]) == [
        "Haswell", "Sandybridge", "Nehalem", "Prescott",
    ]  # fmt: skip


def test_manifest_reads_numeric_context_and_bundles_without_it(tmp_path: Path) -> None:
    (tmp_path / "model.joblib").write_bytes(b"x")
    base = (
        "format_version: 1\nmodel: {file: model.joblib}\npython: {version: 3.11.7}\npackages: []\n"
    )
    (tmp_path / "bundle.yaml").write_text(base)
    assert read(tmp_path).numeric is None
    import yaml

    (tmp_path / "bundle.yaml").write_text(base + yaml.safe_dump({"numeric_context": RECORDED}))
    numeric = read(tmp_path).numeric
    assert numeric is not None and numeric.kernel() == "OpenBLAS Sandybridge"
    (tmp_path / "bundle.yaml").write_text(base + "numeric_context: [not, a, mapping]\n")
    assert read(tmp_path).numeric is None


def test_pin_in_a_venv_activation_script_is_written_once(tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    activate = tmp_path / "bin" / "activate"
    activate.write_text("deactivate () { :; }\nexport VIRTUAL_ENV=x\n")
    write_kernel_pin("venv", tmp_path, {"OPENBLAS_CORETYPE": "Haswell"})
    write_kernel_pin("venv", tmp_path, {"OPENBLAS_CORETYPE": "Sandybridge"})
    text = activate.read_text()
    assert text.count("OPENBLAS_CORETYPE") == 1 and "Sandybridge" in text
    done = subprocess.run(
        ["bash", "-c", f". {activate} && echo $OPENBLAS_CORETYPE"], capture_output=True,
        text=True, check=True,
    )  # fmt: skip
    assert done.stdout.strip() == "Sandybridge"
