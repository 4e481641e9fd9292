"""``verify --scheduler`` without the dask extra, and what needs no cluster at all."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rebuild_env.distributed import is_url, local_copy, normalise_address
from rebuild_env.errors import BundleError, UsageError
from tests.conftest import EXAMPLE_BUNDLE

WITHOUT_DASK = """
import sys
sys.modules["distributed"] = None  # `import distributed` now fails, as without the extra
from rebuild_env.cli import main
sys.exit(main(sys.argv[1:]))
"""


ARGS = ("verify", str(EXAMPLE_BUNDLE), "--scheduler", "tcp://127.0.0.1:8786")
NO_DASK_PROBE = (
    "import sys; from rebuild_env import cli; cli.build_parser(); "
    "print('distributed' in sys.modules)"
)


def test_without_the_extra_scheduler_says_what_to_install(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_DASK, *ARGS],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        "rebuild-env: error: --scheduler needs Dask distributed, which is not installed here"
        " — install the extra: pip install 'rebuild-env[dask]'"
    ]


def test_without_a_scheduler_dask_is_never_imported() -> None:
    done = subprocess.run(
        [sys.executable, "-c", NO_DASK_PROBE],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert done.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("given", "expected"),
    [("127.0.0.1:8786", "tcp://127.0.0.1:8786"), ("tls://sched:8786", "tls://sched:8786")],
)
def test_addresses(given: str, expected: str) -> None:
    assert normalise_address(given) == expected


@pytest.mark.parametrize("given", ["sched", "tcp://:8786", "tcp://host:port"])
def test_not_addresses(given: str) -> None:
    with pytest.raises(UsageError, match="is not a scheduler address"):
        normalise_address(given)


def test_urls_are_copied_and_paths_are_not(tmp_path: Path) -> None:
    pytest.importorskip("fsspec", reason="fsspec is not installed (it comes with the dask extra)")
    assert is_url("s3://bucket/model") and is_url("file:///tmp/b")
    assert not is_url("bundles/model") and not is_url(Path("/tmp/b"))
    with local_copy(str(EXAMPLE_BUNDLE)) as same:
        assert same == EXAMPLE_BUNDLE
    with local_copy(EXAMPLE_BUNDLE.as_uri()) as copy:
        assert copy != EXAMPLE_BUNDLE and copy.name == EXAMPLE_BUNDLE.name
        names = sorted(p.name for p in copy.iterdir())
        assert names == sorted(p.name for p in EXAMPLE_BUNDLE.iterdir())
        assert (copy / "model.joblib").read_bytes() == (
            EXAMPLE_BUNDLE / "model.joblib"
        ).read_bytes()
    assert not copy.exists()  # the temporary copy is gone
    with (
        pytest.raises(BundleError, match="no such bundle"),
        local_copy((tmp_path / "missing").as_uri()),
    ):
        pass
