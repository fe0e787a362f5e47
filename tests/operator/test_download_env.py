"""The download Job's environment against the image it runs."""

from __future__ import annotations

from operator_samples import vxs

from voxtral_operator.api.resolve import parse, resolve
from voxtral_operator.builders import build_children


def test_the_download_job_may_reach_the_hub_though_the_image_is_offline() -> None:
    """predictor/Dockerfile sets HF_HUB_OFFLINE=1 (the server never downloads); the
    download Job runs that image and must turn it off."""
    from pathlib import Path

    dockerfile = (Path(__file__).parents[2] / "predictor" / "Dockerfile").read_text()
    assert "HF_HUB_OFFLINE=1" in dockerfile
    spec = {"model": {"preset": "voxtral-mini-3b"}}
    job = build_children(resolve(parse(vxs(spec, uid="u-1")))).download_job
    assert job is not None
    env = {
        e["name"]: e.get("value") for e in job["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["HF_HUB_OFFLINE"] == "0"
