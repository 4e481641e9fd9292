"""Models that need their author's code: found, refused until trusted, loaded only from it.

Every model file here is written by a subprocess (or by hand, opcode by opcode): this test
process never imports or unpickles the author's module.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from rebuild_env.bundle import read_bundle
from rebuild_env.errors import BundleError, CodeNotFound, UnsafeModelError, UntrustedCode
from rebuild_env.rebuild import scan_model
from rebuild_env.verify.runner import request_for, run_probe
from tests.conftest import pyenv_python, run_cli

MODULE = textwrap.dedent(
    """
    import os
    from os import system


    class AddRatio:
        def __init__(self, scale=2.0):
            self.scale = scale

        def predict(self, X):
            return [row[0] * self.scale for row in X]
    """
)
# A protocol-2 pickle of my_features.AddRatio(): GLOBAL, EMPTY_TUPLE, NEWOBJ, {scale: 3.0}, BUILD
ADD_RATIO = (
    b"\x80\x02cmy_features\nAddRatio\n)\x81}X\x05\x00\x00\x00scaleG@\x08\x00\x00\x00\x00\x00\x00sb."
)


def _global_pickle(module: str, name: str) -> bytes:
    return b"\x80\x02c" + f"{module}\n{name}\n".encode() + b")\x81."


def _bundle(tmp_path: Path, data: bytes = ADD_RATIO, *, module: bool = True) -> Path:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "model.pkl").write_bytes(data)
    (bundle / "requirements.txt").write_text("numpy==2.4.6\n")
    if module:
        (bundle / "my_features.py").write_text(MODULE)
    return bundle


def _scan(bundle: Path, **options: object) -> object:
    recorded = read_bundle(bundle)
    kwargs: dict[str, object] = {"trust": False, "allow_modules": (), **options}
    return scan_model(recorded, **kwargs)  # type: ignore[arg-type]


def test_local_module_is_refused_naming_module_and_file(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path)
    with pytest.raises(UntrustedCode) as caught:
        _scan(bundle)
    line = caught.value.one_line()
    assert "module my_features" in line and str(bundle / "my_features.py") in line
    assert "my_features.AddRatio" in line and "--trust-code" in line
    assert caught.value.exit_code == 7


def test_cli_refuses_without_trust_code_before_planning(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path)
    result = run_cli("plan", bundle, "--out", tmp_path / "out", "-q")
    assert result.code == 7, result.stderr
    assert result.stderr.count("\n") == 1 and "--trust-code" in result.stderr
    assert "my_features.py" in result.stderr and not (tmp_path / "out").exists()


def test_trusted_allows_exactly_the_scanned_globals(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path)
    scanned = _scan(bundle, trust_code=True)
    local = scanned.local_code  # type: ignore[attr-defined]
    assert [m.name for m in local.modules] == ["my_features"]
    module = local.modules[0]
    assert module.path == (bundle / "my_features.py").resolve()
    assert module.found_by == "bundle folder"
    assert local.allowed_globals() == [("my_features", "AddRatio")]
    assert ("my_features", "AddRatio") not in scanned.allowed_globals  # type: ignore[attr-defined]
    request = request_for(read_bundle(bundle), allowed_globals=(), tolerance=None, local_code=local)
    assert request["code_paths"] == [str(bundle.resolve())]
    assert request["local_modules"] == {"my_features": str((bundle / "my_features.py").resolve())}
    assert request["local_globals"] == [["my_features", "AddRatio"]]


def test_trust_code_is_not_trust_other_refusals_stay(tmp_path: Path) -> None:
    # my_features.AddRatio plus os.system in one file: trusting the code allows only the first
    data = ADD_RATIO[:-1] + b"0" + _global_pickle("os", "system")[2:]
    bundle = _bundle(tmp_path, data)
    with pytest.raises(UnsafeModelError) as caught:
        _scan(bundle, trust_code=True)
    assert not isinstance(caught.value, UntrustedCode)
    assert "os.system" in caught.value.message


def test_dangerous_names_in_local_module_stay_refused(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path, _global_pickle("my_features", "system"))
    with pytest.raises(UnsafeModelError) as caught:
        _scan(bundle, trust_code=True)
    assert "my_features.system" in caught.value.message


def test_missing_module_names_module_class_and_code_path(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path, module=False)
    with pytest.raises(CodeNotFound) as caught:
        _scan(bundle, trust_code=True)
    line = caught.value.one_line()
    assert "'my_features'" in line and "my_features.AddRatio" in line and "--code-path" in line
    assert caught.value.exit_code == 2
    result = run_cli("plan", bundle, "--trust-code")
    assert result.code == 2 and "--code-path" in result.stderr


def test_search_order_code_path_then_manifest_then_bundle(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path)  # a copy in the bundle folder (searched last)
    elsewhere = tmp_path / "src"
    elsewhere.mkdir()
    (elsewhere / "my_features.py").write_text(MODULE)
    scanned = _scan(bundle, trust_code=True, code_paths=(elsewhere,))
    module = scanned.local_code.modules[0]  # type: ignore[attr-defined]
    assert module.path == (elsewhere / "my_features.py").resolve()
    assert module.found_by == "--code-path"


def manifest_bundle(bundle: Path, code: list[str]) -> dict[str, object]:
    """A bundle.yaml bundle of the AddRatio pickle listing ``code`` (files written by you)."""
    bundle.mkdir(parents=True, exist_ok=True)
    (bundle / "model.pkl").write_bytes(ADD_RATIO)
    manifest = {
        "format_version": 1,
        "model": {"file": "model.pkl", "loader": "pickle"},
        "python": {"version": "3.11.7"},
        "packages": [],
        "code": code,
    }
    (bundle / "bundle.yaml").write_text(yaml.safe_dump(manifest))
    return manifest


def test_manifest_code_list_and_package(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    package = bundle / "code" / "my_features"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(MODULE)
    manifest = manifest_bundle(bundle, ["code/my_features"])
    scanned = _scan(bundle, trust_code=True)
    module = scanned.local_code.modules[0]  # type: ignore[attr-defined]
    assert module.path == package.resolve() and module.found_by == "bundle.yaml code"
    assert module.sys_path == (bundle / "code").resolve()

    manifest["code"] = ["../elsewhere.py"]
    (bundle / "bundle.yaml").write_text(yaml.safe_dump(manifest))
    with pytest.raises(BundleError, match="outside the bundle"):
        read_bundle(bundle)


def test_mlflow_code_directory(tmp_path: Path) -> None:
    bundle = tmp_path / "mlflow-model"
    (bundle / "code").mkdir(parents=True)
    (bundle / "code" / "my_features.py").write_text(MODULE)
    (bundle / "model.pkl").write_bytes(ADD_RATIO)
    mlmodel = {
        "flavors": {
            "python_function": {"loader_module": "mlflow.sklearn", "code": "code"},
            "sklearn": {
                "pickled_model": "model.pkl",
                "serialization_format": "pickle",
                "code": "code",
            },
        }
    }
    (bundle / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    scanned = _scan(bundle, trust_code=True)
    module = scanned.local_code.modules[0]  # type: ignore[attr-defined]
    assert module.found_by == "MLmodel code"
    assert module.path == (bundle / "code" / "my_features.py").resolve()


def test_pinned_or_known_modules_are_not_local(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path, _global_pickle("lightgbm.basic", "Booster"), module=False)
    with pytest.raises(UnsafeModelError) as caught:  # the usual refusal, not "local code"
        _scan(bundle)
    assert not isinstance(caught.value, UntrustedCode) and "--allow-module" in caught.value.hint
    (bundle / "model.pkl").write_bytes(_global_pickle("PIL.Image", "Image"))
    (bundle / "requirements.txt").write_text("pillow==11.0.0\n")
    scanned = _scan(bundle, allow_modules=("PIL",))
    assert scanned.local_code.modules == ()  # type: ignore[attr-defined]


def test_main_module_class_says_move_it_into_a_module(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path, _global_pickle("__main__", "MyTransformer"))
    with pytest.raises(BundleError) as caught:
        _scan(bundle, trust=True)
    assert "__main__.MyTransformer" in caught.value.message
    assert "move MyTransformer into a module" in caught.value.hint


def _pickled_by_author(tmp_path: Path) -> Path:
    """A real pickle of my_features.AddRatio, written by another process."""
    bundle = _bundle(tmp_path, b"")
    code = "import pickle, my_features as m; pickle.dump(m.AddRatio(3.0), open('model.pkl', 'wb'))"
    subprocess.run([sys.executable, "-c", code], cwd=bundle, check=True)
    return bundle


def _probe_request(bundle: Path) -> dict[str, object]:
    scanned = _scan(bundle, trust_code=True)
    return request_for(
        read_bundle(bundle),
        allowed_globals=scanned.allowed_globals,  # type: ignore[attr-defined]
        tolerance=None,
        local_code=scanned.local_code,  # type: ignore[attr-defined]
    )


def test_probe_loads_trusted_code_from_its_file(tmp_path: Path) -> None:
    bundle = _pickled_by_author(tmp_path)
    result = run_probe(Path(sys.executable), _probe_request(bundle))
    assert result.error is None and result.level == "loads", result.error


def test_probe_loads_trusted_code_on_the_oldest_target_python(tmp_path: Path) -> None:
    python = pyenv_python("3.6")
    if python is None:
        pytest.skip("no CPython 3.6 under pyenv")
    bundle = _bundle(tmp_path)  # the hand-written pickle: AddRatio(scale=3.0), no numpy
    (bundle / "my_features.py").write_text(
        MODULE.replace("class AddRatio:", "class AddRatio(object):")
    )
    request = {**_probe_request(bundle), "loader": "pickle"}  # that Python has no joblib
    result = run_probe(python, request)
    assert result.python.startswith("3.6.")
    assert result.level == "loads", result.error  # loaded; no numpy to generate an input


def test_probe_refuses_a_global_re_exported_by_the_local_module(tmp_path: Path) -> None:
    bundle = _pickled_by_author(tmp_path)
    request = _probe_request(bundle)
    request["local_globals"] = [["my_features", "system"]]  # as if the scan had allowed it
    (bundle / "model.pkl").write_bytes(b"\x80\x02cmy_features\nsystem\nX\x04\x00\x00\x00trueR.")
    result = run_probe(Path(sys.executable), request)
    assert result.error is not None and result.error.refused
    assert "not defined in the trusted local code" in result.error.message


def test_probe_refuses_a_module_imported_from_elsewhere(tmp_path: Path) -> None:
    bundle = _pickled_by_author(tmp_path)
    request = _probe_request(bundle)
    other = tmp_path / "other"
    other.mkdir()
    (other / "my_features.py").write_text(MODULE)
    request["code_paths"] = [str(other)]  # a folder the host did not find it in
    result = run_probe(Path(sys.executable), request)
    assert result.error is not None and result.error.refused
    assert "not from the reviewed" in result.error.message


def test_json_of_the_refusal_is_one_error_document(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path)
    result = run_cli("plan", bundle, "--json")
    doc = json.loads(result.stdout)
    assert doc["status"] == "error" and doc["exit_code"] == 7 == result.code
    assert "my_features" in doc["error"]
