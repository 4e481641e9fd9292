"""The ``examples:`` section at the end of every command's ``--help``.

Kept apart from ``cli.py`` so the options stay readable there; a test parses every example
line shown here with the real parser, so an example cannot drift from the options.
"""

from __future__ import annotations

import argparse

PROG = "rebuild-env"

# command path ("" is the top level) -> (command line, what it does)
EXAMPLES: dict[str, tuple[tuple[str, str], ...]] = {
    "": (
        (
            "rebuild-env fixtures/bundles/iris-logreg --prefix .rebuild-env/iris-env",
            "rebuild + verify",
        ),
        ("rebuild-env plan models/churn/", "the plan only: packages, versions, sources"),
        ("rebuild-env verify models/*/ --jobs 4", "every bundle of a registry"),
    ),
    "rebuild": (
        (
            "rebuild-env rebuild fixtures/bundles/iris-logreg --backend venv "
            "--prefix .rebuild-env/iris-env",
            "build the environment at a prefix of your choice, then verify the model in it",
        ),
        ("rebuild-env rebuild models/churn/ --python 3.8 --json", "report as one JSON document"),
        (
            "rebuild-env rebuild mlflow-model/ --backend conda -c conda-forge "
            "--emit dockerfile docker/",
            "also a Dockerfile",
        ),
        ("rebuild-env rebuild model.pkl --rtol 1e-6 --reverify", "compare within a tolerance"),
        (
            "rebuild-env rebuild packed-bundle/ --offline",
            "install only what `rebuild-env pack` stored in the bundle (no network)",
        ),
        (
            "rebuild-env rebuild packed-bundle/ --offline --backend conda",
            "Python and every package from the bundle's own conda channel",
        ),
    ),
    "plan": (
        ("rebuild-env plan fixtures/bundles/iris-logreg", "the plan table; nothing is built"),
        (
            "rebuild-env plan model.pkl --backend conda --out specs/",
            "environment.yml + conda-lock.yml",
        ),
    ),
    "inspect": (
        ("rebuild-env inspect model.joblib", "globals, pickle protocol, version hints"),
        ("rebuild-env inspect fixtures/bundles/iris-logreg --json", "scan vs. the bundle's pins"),
    ),
    "save": (
        (
            "rebuild-env save model.joblib my-bundle/ --sample-input X_test.npy",
            "model + bundle.yaml + the outputs to check a rebuild against",
        ),
        (
            "rebuild-env save pipeline.pkl my-bundle/ --sample-input X.csv --method predict_proba",
            "record predict_proba on a CSV sample",
        ),
    ),
    "verify": (
        ("rebuild-env verify models/*/ --jobs 4", "summary table; exit 0 only if all verify"),
        (
            "rebuild-env verify models/a models/b --backend conda --json",
            "one JSON document, a row per bundle",
        ),
    ),
    "compare": (
        (
            "rebuild-env compare models/churn/ --upgrade scikit-learn==1.0.2",
            "does the model predict the same with scikit-learn 1.0.2?",
        ),
        (
            "rebuild-env compare models/churn/ --upgrade scikit-learn --newest-identical",
            "the newest release that still predicts identically",
        ),
        (
            "rebuild-env compare models/churn/ --upgrade 'scikit-learn<1.3' --newest-identical "
            "--python 3.10 --json",
            "search a range, on another Python, as JSON",
        ),
    ),
    "pack": (
        (
            "rebuild-env pack fixtures/bundles/iris-logreg",
            "store the plan's wheels (+ sha256) in BUNDLE/artifacts/venv/",
        ),
        (
            "rebuild-env pack models/churn/ --backend conda -c conda-forge --json",
            "the solved conda packages, as a local channel in the bundle",
        ),
    ),
    "cache": (
        ("rebuild-env cache list", "cached environments, sizes, last use"),
        ("rebuild-env cache prune --older-than 30", "remove envs unused for 30 days"),
    ),
    "cache list": (
        ("rebuild-env cache list", "path, size, Python, backend, last use, bundle"),
        ("rebuild-env cache list --json", "the same for scripts"),
    ),
    "cache path": (
        ("rebuild-env cache path fixtures/bundles/iris-logreg", "where its env is (or would be)"),
        (
            "rebuild-env cache path models/churn/ --backend conda -c conda-forge",
            "another backend or channel is another entry",
        ),
    ),
    "cache prune": (
        ("rebuild-env cache prune", "remove incomplete environments"),
        ("rebuild-env cache prune --older-than 30", "and those unused for 30 days"),
    ),
    "cache clear": (("rebuild-env cache clear", "remove every cached environment"),),
}


def render(command: str) -> str:
    """The ``examples:`` block for ``command`` (a path such as ``"cache prune"``)."""
    lines = ["examples:"]
    for line, comment in EXAMPLES[command]:
        lines += [f"  # {comment}"] if comment else []
        lines.append(f"  {line}")
    return "\n".join(lines)


def add_examples(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> None:
    """Put the examples before each (sub)command's existing epilog, recursively."""
    command = " ".join(path)
    if command in EXAMPLES:
        parser.epilog = render(command) + (f"\n\n{parser.epilog}" if parser.epilog else "")
        parser.formatter_class = argparse.RawDescriptionHelpFormatter
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                add_examples(child, (*path, name))
