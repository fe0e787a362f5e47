"""Static checks CI runs with the tests: ruff (lint) and mypy --strict on both packages."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff() -> None:
    result = run(
        str(BIN / "ruff"), "check", "predictor", "operator", "gateway", "tests", "benchmarks"
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict() -> None:
    result = run(str(BIN / "mypy"))
    assert result.returncode == 0, result.stdout + result.stderr


# The operator's layers, bottom up (docs/ARCHITECTURE.md): a module imports only from its
# own layer or the ones below.
LAYERS = {
    "autoscaling": 0, "config": 0, "metrics": 0,
    "api": 1, "builders": 2, "cluster": 3, "status": 4, "plan": 5,
    "controller": 6, "autoscaler": 7, "render": 7, "handlers": 8, "__main__": 9,
}  # fmt: skip


def test_the_operators_imports_point_down_its_layers() -> None:
    import ast

    package = ROOT / "operator" / "voxtral_operator"
    upward = []
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package).with_suffix("").parts
        if parts == ("__init__",):
            continue
        layer = LAYERS[parts[0]]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "voxtral_operator"
            ):
                names = [a.name for a in node.names]
                target = (node.module or "").split(".")[1:2] or names[:1]
                if target and target[0] in LAYERS and LAYERS[target[0]] > layer:
                    upward.append(f"{path.relative_to(ROOT)} imports {node.module}")
    assert upward == []
