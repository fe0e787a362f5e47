"""tools/ (the helm binary, `make manifests`) is held to the project's static checks too:
ruff, and mypy --strict (tests/test_static.py covers the packages and tests/)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from install_chart import ROOT

BIN = Path(sys.executable).parent
TOOLS = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tools").glob("*.py"))


def run(*cmd: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"MYPYPATH": "tools"}
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)


def test_ruff_on_tools() -> None:
    result = run(str(BIN / "ruff"), "check", "tools")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_on_tools() -> None:
    result = run(str(BIN / "mypy"), "--strict", *TOOLS)
    assert result.returncode == 0, result.stdout + result.stderr
