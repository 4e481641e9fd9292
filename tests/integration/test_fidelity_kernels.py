"""A bundle saved under another BLAS kernel, rebuilt here (issue 22), with real kernels.

The "colleague" is this machine's OpenBLAS under ``OPENBLAS_CORETYPE=Sandybridge``: ``save``
runs with it, so the recorded outputs and ``numeric_context`` are Sandybridge's. Rebuilt
here (SkylakeX/Haswell by default) the same packages give other last bits.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from rebuild_env.numeric_context import natural_kernel, this_cpu
from tests.conftest import run_cli
from tests.json_contract import assert_valid, one_document

pytestmark = [
    pytest.mark.slow,
    pytest.mark.network,
    pytest.mark.skipif(
        natural_kernel(this_cpu()) not in ("Haswell", "SkylakeX"),
        reason="needs a CPU whose own OpenBLAS kernel is not Sandybridge's",
    ),
]
TRAIN = """
import numpy as np, joblib
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
X, y = make_classification(n_samples=300, n_features=20, n_informative=10, n_classes=3,
                           random_state=0)
joblib.dump(LogisticRegression(max_iter=1000).fit(X, y), "model.joblib")
np.save("X.npy", X)
"""


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("OPENBLAS_", "MKL_"))}


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """recorded (with numeric_context), unrecorded (without), perturbed (a real change)."""
    root = tmp_path_factory.mktemp("fidelity")
    subprocess.run([sys.executable, "-c", TRAIN], cwd=root, check=True, timeout=300)
    colleague = {**_clean_env(), "OPENBLAS_CORETYPE": "Sandybridge"}
    saved = run_cli(
        "save", "model.joblib", "recorded", "--sample-input", "X.npy",
        "--method", "predict_proba", cwd=root, env=colleague,
    )  # fmt: skip
    assert saved.code == 0, saved.stderr
    recorded = root / "recorded"
    manifest = yaml.safe_load((recorded / "bundle.yaml").read_text())
    kernels = {b["architecture"] for b in manifest["numeric_context"]["blas"] if b["architecture"]}
    assert kernels == {"Sandybridge"}
    assert manifest["numeric_context"]["env"] == {"OPENBLAS_CORETYPE": "Sandybridge"}
    unrecorded = root / "unrecorded"
    shutil.copytree(recorded, unrecorded)
    del manifest["numeric_context"]
    (unrecorded / "bundle.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    perturbed = root / "perturbed"
    shutil.copytree(unrecorded, perturbed)
    output = np.load(perturbed / "sample_output.npy")
    output[11, 2] += 1e-9
    np.save(perturbed / "sample_output.npy", output)
    return {"recorded": recorded, "unrecorded": unrecorded, "perturbed": perturbed}


def _rebuild(bundle: Path, *args: str) -> tuple[int, str]:
    done = run_cli(bundle, "-q", *args, env=_clean_env())
    return done.code, done.stdout + done.stderr


def test_recorded_kernel_is_pinned_and_reproduces_bit_for_bit(bundles: dict[str, Path]) -> None:
    code, text = _rebuild(bundles["recorded"], "--exact")
    assert code == 0, text
    assert "predictions identical (300/300), bit-identical under the recorded Sandybridge" in text
    assert "OPENBLAS_CORETYPE=Sandybridge" in text


def test_unrecorded_kernel_is_noise_exact_is_not(bundles: dict[str, Path]) -> None:
    code, text = _rebuild(bundles["unrecorded"])
    assert code == 0, text
    assert "predictions equal within floating-point noise" in text
    assert "the difference comes from the arithmetic, not the environment" in text
    done = run_cli(bundles["unrecorded"], "--json", env=_clean_env())
    doc = one_document(done.stdout)
    assert_valid(doc, "rebuild")
    comparison = doc["verification"]["comparison"]
    assert doc["status"] == "within-noise" and comparison["labels_identical"] is True
    assert 0 < comparison["max_ulp"] <= comparison["noise_ulps"]
    assert 0 < comparison["max_abs_diff"] < 1e-14
    code, text = _rebuild(bundles["unrecorded"], "--exact")
    assert code == 6, text
    assert "predictions differ" in text


def test_explain_finds_the_kernel(bundles: dict[str, Path]) -> None:
    code, text = _rebuild(bundles["unrecorded"], "--explain", "--exact")
    assert code == 0, text
    assert "the recorded outputs were computed with the OpenBLAS Sandybridge kernel" in text
    assert "bit-identical under the OpenBLAS Sandybridge kernel" in text


def test_a_real_difference_still_differs_and_is_not_explained_away(
    bundles: dict[str, Path],
) -> None:
    code, text = _rebuild(bundles["perturbed"])
    assert code == 6, text
    assert "predictions differ" in text
    code, text = _rebuild(bundles["perturbed"], "--explain")
    assert code == 6, text
    assert "no kernel this CPU can run reproduces the recorded outputs" in text


def test_pin_kernel_carries_the_pin(bundles: dict[str, Path], tmp_path: Path) -> None:
    code, text = _rebuild(
        bundles["recorded"], "--pin-kernel", "--emit", "dockerfile", str(tmp_path / "docker")
    )
    assert code == 0, text
    assert "ENV OPENBLAS_CORETYPE=Sandybridge" in (tmp_path / "docker" / "Dockerfile").read_text()
    env = run_cli("cache", "path", bundles["recorded"], env=_clean_env()).stdout.strip()
    assert "export OPENBLAS_CORETYPE=Sandybridge" in (Path(env) / "bin" / "activate").read_text()
    done = run_cli(
        "run", bundles["recorded"], "--pin-kernel", "-q", "--", "python", "-c",
        "import os; print(os.environ['OPENBLAS_CORETYPE'])", env=_clean_env(),
    )  # fmt: skip
    assert done.code == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "Sandybridge"
