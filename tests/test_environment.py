"""Does environment.yml (JupyterHub image) list exactly what pyproject.toml does?"""

from __future__ import annotations

import tomllib

import yaml
from packaging.requirements import Requirement

from tests.conftest import REPO


def _pyproject() -> dict[str, str]:
    data = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    requirements = [Requirement(r) for r in data["project"]["dependencies"]]
    return {r.name.lower(): str(r.specifier) for r in requirements}


def _environment() -> dict[str, str]:
    data = yaml.safe_load((REPO / "environment.yml").read_text(encoding="utf-8"))
    result: dict[str, str] = {}
    for entry in data["dependencies"]:
        for line in entry["pip"] if isinstance(entry, dict) else [entry]:
            requirement = Requirement(line.replace(" ", ""))
            if requirement.name not in {"python", "pip"}:
                result[requirement.name.lower()] = str(requirement.specifier)
    return result


def test_environment_and_pyproject_list_the_same_packages_and_bounds():
    """Every dependency appears in both files with identical version bounds."""
    assert _environment() == _pyproject()


def test_python_bounds_agree():
    """The Python version range is the same for pip and conda."""
    data = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    env = yaml.safe_load((REPO / "environment.yml").read_text(encoding="utf-8"))
    python = next(e for e in env["dependencies"] if isinstance(e, str) and e.startswith("python "))
    assert python.split(" ", 1)[1] == data["project"]["requires-python"]
