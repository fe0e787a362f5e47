"""The install tests: the Helm chart with the real helm, the generated manifests, the RBAC
against the operator's recorded API calls, and the container images' files."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
# The helpers beside this file, tools/ (helm, the manifests generator) and the operator
# tests' emulator, harness and samples.
for extra in (ROOT / "tests" / "operator", ROOT / "tools", HERE):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))
