"""The committed allow-lists agree with what real model files ask for.

``scripts/make_allowlist.py --sample`` builds two real scikit-learn environments (the
oldest and the newest minor), saves a representative set of models, records every global
a real unpickler asks for, and fails when ``scikit-learn.json`` lacks one. The check is
shown to fail on a copy of the list with one recorded pair removed.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import ROOT

SCRIPT = ROOT / "scripts" / "make_allowlist.py"
ALLOWLISTS = ROOT / "src" / "rebuild_env" / "pickle_scan" / "allowlists"
SAMPLE_TIMEOUT_S = 1800
REMOVED = "numpy dtype"  # every saved array asks for it, in every version


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_allowlist", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_allowlist"] = module
    spec.loader.exec_module(module)
    return module


def _run_sample(cache: Path, allowlists: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, SCRIPT, "--sample", "--cache", cache, "--allowlists", allowlists],
        capture_output=True,
        text=True,
        timeout=SAMPLE_TIMEOUT_S,
        check=False,
    )


def _without(allowlists: Path, pair: str, target: Path) -> Path:
    shutil.copytree(allowlists, target)
    core = target / "scikit-learn.json"
    document = json.loads(core.read_text(encoding="utf-8"))
    assert pair in document["globals"]
    del document["globals"][pair]
    core.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return target


def test_policy_refuses_code_and_keeps_data() -> None:
    policy = _script().refused_by_policy
    refused = [
        ("builtins", "getattr"),
        ("builtins", "eval"),
        ("os", "system"),
        ("posix", "system"),
        ("numpy", "load"),
        ("numpy.testing._private.utils", "runstring"),
        ("sklearn.utils._testing", "assert_run_python_script"),
        ("pkg.test_things", "Helper"),
        ("sklearn.tree._tree", "Tree.__reduce__"),
        ("joblib.numpy_pickle", "load"),
        ("pandas.io.pickle", "read_pickle"),
    ]
    allowed = [
        ("builtins", "slice"),
        ("copyreg", "_reconstructor"),
        ("numpy", "dtype"),
        ("sklearn.tree._tree", "Tree"),
        ("_codecs", "encode"),
    ]
    assert [p for p in refused if not policy(*p)] == []
    assert [p for p in allowed if policy(*p)] == []


def test_a_pair_missing_from_the_list_is_reported(tmp_path: Path) -> None:
    script = _script()
    cell = tmp_path / "cell"
    cell.mkdir()
    recorded = {
        "model.joblib": [["numpy", "dtype"], ["sklearn.svm._classes", "SVC"]],
        "model.p2.pkl": [["builtins", "getattr"], ["numpy", "dtype"]],
    }
    (cell / "pairs.json").write_text(json.dumps({"pairs": recorded, "errors": {}}))
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "scikit-learn.json").write_text(json.dumps({"globals": {"numpy dtype": ["1.5.2"]}}))
    result = script.CellResult(cell, {"status": "done", "version": "1.5.2"})
    missing = script.missing_pairs([result], lists)
    # getattr is refused by policy: reported as such, never as missing
    assert missing == {"sklearn.svm._classes SVC": ["1.5.2 model.joblib"]}


@pytest.mark.slow
@pytest.mark.network
def test_sample_matches_committed_list(tmp_path_factory: pytest.TempPathFactory) -> None:
    cache = tmp_path_factory.mktemp("allowlist-matrix")
    done = _run_sample(cache, ALLOWLISTS)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2/2 cells" in done.stdout
    assert ", 0 pairs missing" in done.stdout

    # the same recorded files against a list lacking one pair they need: exit 1, named
    trimmed = _without(ALLOWLISTS, REMOVED, tmp_path_factory.mktemp("lists") / "allowlists")
    again = _run_sample(cache, trimmed)
    assert again.returncode == 1, again.stdout + again.stderr
    assert f"missing from scikit-learn.json: {REMOVED} " in again.stdout
    assert ", 1 pairs missing" in again.stdout
