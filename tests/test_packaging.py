"""setup.py asks for torch and torchvision as ranges, so installing never replaces a torch inside them."""

from __future__ import annotations

from pathlib import Path

import pytest

requirements = pytest.importorskip("packaging.requirements")
version = pytest.importorskip("packaging.version")

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def distribution():
    pytest.importorskip("setuptools")  # imported first, so distutils is setuptools' own
    from distutils.core import run_setup

    return run_setup(str(ROOT / "setup.py"), stop_after="init")


def _requirement(lines: list[str], name: str):
    found = [requirements.Requirement(line) for line in lines if requirements.Requirement(line).name == name]
    assert len(found) == 1, f"{name} listed {len(found)} times in {lines}"
    return found[0]


@pytest.mark.parametrize("where", ["core", "vision", "test", "all"])
def test_torch_and_torchvision_are_lower_bounds_only(distribution, where):
    lines = distribution.install_requires if where == "core" else distribution.extras_require[where]
    names = ["torch"] if where == "core" else ["torchvision"]
    for name in names:
        specifier = _requirement(lines, name).specifier
        assert [spec.operator for spec in specifier] == [">="], f"{name}: {specifier} is not a lower bound alone"
        lowest = version.Version(next(iter(specifier)).version)
        newer = version.Version(f"{lowest.major}.{lowest.minor + 1}.0")
        assert newer in specifier and version.Version(f"{lowest.major + 1}.0") in specifier  # no upper pin
        older = version.Version(f"{lowest.major}.{lowest.minor - 1}.0") if lowest.minor else None
        assert older is None or older not in specifier


def test_readme_names_the_lower_bounds_as_tested(distribution):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    torch_low = next(iter(_requirement(distribution.install_requires, "torch").specifier)).version
    vision_low = next(iter(_requirement(distribution.extras_require["vision"], "torchvision").specifier)).version
    assert f"`torch>={torch_low}`" in readme and f"`torchvision>={vision_low}`" in readme
    assert f"torch {torch_low} + torchvision {vision_low}" in readme  # the lowest bounds are the tested ones
