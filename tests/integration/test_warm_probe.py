"""The probe started early (while the host plans) gets the request, or is discarded."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from rebuild_env import _subprocess
from rebuild_env import rebuild as rb
from rebuild_env.verify import runner, store
from tests.conftest import EXAMPLE_BUNDLE

pytestmark = [pytest.mark.slow, pytest.mark.network]


def _spy_warm(monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], list[runner.WarmProbe]]:
    sent: list[str] = []
    started: list[runner.WarmProbe] = []
    real_finish, real_init = _subprocess.finish, runner.WarmProbe.__init__

    def finish(proc, *, send=None, **kwargs):  # type: ignore[no-untyped-def]
        if send is not None:
            sent.append(send)
        return real_finish(proc, send=send, **kwargs)

    def init(self, python, modules, **kwargs):  # type: ignore[no-untyped-def]
        real_init(self, python, modules, **kwargs)
        started.append(self)

    monkeypatch.setattr(_subprocess, "finish", finish)
    monkeypatch.setattr(runner.WarmProbe, "__init__", init)
    return sent, started


def test_a_reverify_hands_the_request_to_the_probe_started_early(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    options = rb.Options(out=tmp_path / "out", reverify=True)
    first = rb.rebuild(EXAMPLE_BUNDLE, options)
    assert first.status == "identical"
    sent, started = _spy_warm(monkeypatch)
    second = rb.rebuild(EXAMPLE_BUNDLE, options)
    assert second.status == "identical"
    assert len(started) == 1 and len(sent) == 1
    assert second.probe is not None and first.probe is not None
    assert second.probe.versions == first.probe.versions
    assert started[0].proc.poll() is not None and not started[0].tmp.exists()


def test_a_probe_started_in_another_interpreter_is_discarded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    options = rb.Options(out=tmp_path / "out", reverify=True)
    assert rb.rebuild(EXAMPLE_BUNDLE, options).status == "identical"
    # What the last run remembered now points at another interpreter (the env moved).
    hint = store._warm_file(EXAMPLE_BUNDLE)
    record = json.loads(hint.read_text())
    hint.write_text(json.dumps({**record, "python": sys.executable}))
    sent, started = _spy_warm(monkeypatch)
    report = rb.rebuild(EXAMPLE_BUNDLE, options)
    assert report.status == "identical"
    assert len(started) == 1 and sent == []
    assert started[0].proc.poll() is not None and not started[0].tmp.exists()


def test_no_probe_is_started_early_when_the_stored_verdict_will_serve(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A run whose verdict was stored (fresh or reused) tells the next one not to warm up:
    # the next one reuses that verdict, and an early probe would only cost a second of CPU.
    assert rb.rebuild(EXAMPLE_BUNDLE, rb.Options(out=tmp_path / "out", reverify=True)).status
    sent, started = _spy_warm(monkeypatch)
    again = rb.rebuild(EXAMPLE_BUNDLE, rb.Options(out=tmp_path / "out"))
    assert again.status == "identical" and again.probe is not None
    assert started == [] and sent == []
    warmed = rb.rebuild(EXAMPLE_BUNDLE, rb.Options(out=tmp_path / "out", reverify=True))
    assert warmed.status == "identical" and len(started) == 1  # --reverify still warms
