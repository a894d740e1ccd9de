"""The GitHub Actions workflows are valid and say what the release process relies on.

Validation uses check-jsonschema's vendored GitHub workflow schema (works offline), and
actionlint too when an ``actionlint`` binary is on PATH (no offline wheel of it installs here).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
CHECK_JSONSCHEMA = [sys.executable, "-m", "check_jsonschema"]
SCHEMA = ["--builtin-schema", "vendor.github-workflows"]


def require_check_jsonschema() -> None:
    """Skips without check-jsonschema, except under CI where it must be installed."""
    try:
        import check_jsonschema  # noqa: F401
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("check-jsonschema (dev extra) is required in CI")
        pytest.skip("check-jsonschema is not installed (pip install -e '.[dev]')")


def load(name: str) -> dict[Any, Any]:
    """One workflow file parsed as YAML (note: YAML 1.1 reads the key `on` as True)."""
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    assert isinstance(data, dict)
    return data


def run_steps(job: dict[str, Any]) -> str:
    """All `run:` scripts of a job, joined."""
    return "\n".join(step.get("run", "") for step in job["steps"])


def test_workflows_match_the_github_workflow_schema() -> None:
    """ci.yml and wheels.yml validate against the GitHub workflow JSON schema."""
    require_check_jsonschema()
    files = [str(WORKFLOWS / "ci.yml"), str(WORKFLOWS / "wheels.yml")]
    proc = subprocess.run([*CHECK_JSONSCHEMA, *SCHEMA, *files], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_schema_check_rejects_a_broken_workflow(tmp_path: Path) -> None:
    """The schema check fails on a workflow whose job has no `runs-on` and a bad `steps`."""
    require_check_jsonschema()
    bad = tmp_path / "bad.yml"
    bad.write_text("name: bad\non: push\njobs:\n  build:\n    steps: 5\n")
    proc = subprocess.run([*CHECK_JSONSCHEMA, *SCHEMA, str(bad)], capture_output=True, text=True)
    assert proc.returncode != 0


@pytest.mark.skipif(shutil.which("actionlint") is None, reason="actionlint is not on PATH")
def test_actionlint_passes() -> None:
    """actionlint finds nothing to report in the workflows."""
    files = [str(WORKFLOWS / "ci.yml"), str(WORKFLOWS / "wheels.yml")]
    proc = subprocess.run(["actionlint", *files], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ci_runs_lint_types_both_codecs_js_and_docs() -> None:
    """ci.yml lints, type-checks, tests 3.10-3.14 on both codecs with node 20, builds docs."""
    jobs = load("ci.yml")["jobs"]
    assert "ruff check" in run_steps(jobs["lint"])
    assert "mypy --strict" in run_steps(jobs["lint"])
    matrix = jobs["tests"]["strategy"]["matrix"]
    assert matrix["python"] == ["3.10", "3.11", "3.12", "3.13", "3.14"]
    assert matrix["codec"] == ["c", "py"]
    assert "FASTPHX_NO_EXTENSIONS" in jobs["tests"]["env"]
    node = [s for s in jobs["tests"]["steps"] if s.get("uses", "").startswith("actions/setup-node")]
    assert node and node[0]["with"]["node-version"] == "20"
    assert "npm ci" in run_steps(jobs["tests"])
    assert "mkdocs build --strict" in run_steps(jobs["docs"])
    assert "check_dist.sh" in run_steps(jobs["dist"])


def test_wheels_publish_only_tags_with_trusted_publishing() -> None:
    """wheels.yml publishes sdist + wheels on v* tags only, via OIDC in the `pypi` environment."""
    workflow = load("wheels.yml")
    assert workflow[True]["push"]["tags"] == ["v*"]
    publish = workflow["jobs"]["publish"]
    assert set(publish["needs"]) == {"sdist", "wheels"}
    assert "refs/tags/v" in publish["if"]
    assert publish["permissions"] == {"id-token": "write"}
    assert publish["environment"]["name"] == "pypi"
    assert any(s.get("uses", "").startswith("pypa/gh-action-pypi-publish")
               for s in publish["steps"])


def test_wheels_cover_every_platform_and_arch() -> None:
    """The cibuildwheel matrix covers Linux x86_64/aarch64, macOS x86_64/arm64, Windows AMD64."""
    jobs = load("wheels.yml")["jobs"]
    include = jobs["wheels"]["strategy"]["matrix"]["include"]
    pairs = {(row["os"].split("-")[0], row["archs"]) for row in include}
    assert pairs == {("ubuntu", "x86_64"), ("ubuntu", "aarch64"), ("macos", "x86_64"),
                     ("macos", "arm64"), ("windows", "AMD64")}
    assert any(s.get("uses", "").startswith("pypa/cibuildwheel") for s in jobs["wheels"]["steps"])
