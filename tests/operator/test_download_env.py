"""The download Job's environment against the image it runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from operator_samples import vxs

from voxtral_operator.api.resolve import parse, resolve
from voxtral_operator.builders import build_children
from voxtral_operator.builders.download_job import DOWNLOAD_SCRIPT, PERMISSION_EXIT, PERMISSION_TEXT
from voxtral_operator.builders.pod import RUN_AS


def test_the_download_job_may_reach_the_hub_though_the_image_is_offline() -> None:
    """predictor/Dockerfile sets HF_HUB_OFFLINE=1 (the server never downloads); the
    download Job runs that image and must turn it off."""
    dockerfile = (Path(__file__).parents[2] / "predictor" / "Dockerfile").read_text()
    assert "HF_HUB_OFFLINE=1" in dockerfile
    spec = {"model": {"preset": "voxtral-mini-3b"}}
    job = build_children(resolve(parse(vxs(spec, uid="u-1")))).download_job
    assert job is not None
    env = {
        e["name"]: e.get("value") for e in job["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["HF_HUB_OFFLINE"] == "0"


def _script_env(target: Path) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "VOXTRAL_DOWNLOAD_DIR": str(target / "hf" / "acme--voxtral" / "main"),
        "VOXTRAL_DOWNLOAD_REPO": "acme/voxtral",
        "VOXTRAL_DOWNLOAD_REVISION": "main",
        "VOXTRAL_DOWNLOAD_ALLOW_PATTERNS": "[]",
        "HF_HOME": str(target / ".hf-home"),
        "HF_HUB_OFFLINE": "1",  # no network here: the download itself fails, later
    }


def _run_as_another_user(target: Path, log: Path) -> int:
    """The download script as the Job runs it (uid/gid 1000), on a cache it may not write: a
    root-owned directory, as a volume whose driver ignores fsGroup leaves it. A forked child
    drops to uid 1000 and runs the script itself (no interpreter to exec as that user)."""
    target.chmod(0o755 if os.geteuid() == 0 else 0o555)
    env = _script_env(target)
    stderr = log.open("w")  # opened before the child drops its privileges
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 99
        try:
            if os.geteuid() == 0:
                os.setgroups([])
                os.setgid(RUN_AS)
                os.setuid(RUN_AS)
            os.environ.clear()
            os.environ.update(env)
            sys.stderr = stderr
            exec(DOWNLOAD_SCRIPT, {"__name__": "__main__"})
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        finally:
            os._exit(code)
    stderr.close()
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_the_download_says_permission_denied_and_exits_13(tmp_path: Path) -> None:
    """Issue 13, fix 11: the exit code the Job's pod failure policy fails at once on, and the
    words the status quotes (its log tail becomes the termination message)."""
    base = Path(tempfile.mkdtemp(prefix="voxtral-cache-"))  # a path uid 1000 can traverse
    base.chmod(0o755)
    target = base / "models"
    target.mkdir()
    log = tmp_path / "stderr.log"
    try:
        assert _run_as_another_user(target, log) == PERMISSION_EXIT, log.read_text()
    finally:
        shutil.rmtree(base)
    last = log.read_text().strip().splitlines()[-1]
    assert last.startswith(f"{PERMISSION_TEXT}: uid ")
    assert "cannot write" in last and str(target) in last
    job = build_children(resolve(parse(vxs({"model": {"preset": "voxtral-mini-3b"}}, uid="u-1"))))
    assert job.download_job is not None
    rule = job.download_job["spec"]["podFailurePolicy"]["rules"][0]
    assert rule["onExitCodes"] == {"containerName": "download", "operator": "In",
                                   "values": [PERMISSION_EXIT]}  # fmt: skip
    container = job.download_job["spec"]["template"]["spec"]["containers"][0]
    assert container["terminationMessagePolicy"] == "FallbackToLogsOnError"


def test_a_writable_cache_goes_on_to_the_download(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", DOWNLOAD_SCRIPT],
        env=_script_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode not in (0, PERMISSION_EXIT), result.stderr  # offline here
    assert PERMISSION_TEXT not in result.stderr
    assert (tmp_path / "hf" / "acme--voxtral" / "main").is_dir()


def test_fix_permissions_adds_a_root_init_step_with_two_capabilities() -> None:
    spec = {"model": {"preset": "voxtral-mini-3b"}, "cache": {"fixPermissions": True}}
    job = build_children(resolve(parse(vxs(spec, uid="u-1")))).download_job
    assert job is not None
    (init,) = job["spec"]["template"]["spec"]["initContainers"]
    assert init["securityContext"]["runAsUser"] == 0
    assert init["securityContext"]["capabilities"] == {"drop": ["ALL"], "add": ["CHOWN", "FOWNER"]}
    assert f"chown -R {RUN_AS}:{RUN_AS} /models" in init["command"][-1]
    plain = build_children(resolve(parse(vxs({"model": {"preset": "voxtral-mini-3b"}}, uid="u-1"))))
    assert plain.download_job is not None
    assert "initContainers" not in plain.download_job["spec"]["template"]["spec"]
