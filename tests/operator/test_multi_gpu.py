"""The Deployment for 1, 2, 4 and 8 GPUs a replica (issue 9's CPU-side checks): GPU
limits, tensor parallelism, memory-backed /dev/shm sized by GPU count, NCCL kept off
NVLink multicast whenever more than one GPU talks, and valid Kubernetes either way."""

from __future__ import annotations

import kubernetes_validate
import pytest
from operator_samples import vxs

from voxtral_operator.api.resolve import parse, resolve
from voxtral_operator.builders import build_children
from voxtral_operator.builders.pod import SHM_GIB_PER_GPU

MULTICAST_OFF = {
    "NCCL_NVLS_ENABLE": "0",
    "TORCH_SYMM_MEM_DISABLE_MULTICAST": "1",
    "NVSHMEM_DISABLE_NVLS": "1",
}


@pytest.mark.parametrize("gpus", [1, 2, 4, 8])
def test_deployment_for_each_gpu_count(gpus: int) -> None:
    spec = {"model": {"preset": "voxtral-small-24b"}, "gpusPerReplica": gpus, "gpuMemory": "141Gi"}
    deployment = build_children(resolve(parse(vxs(spec, uid="u-1")))).deployment
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == str(gpus)
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["VOXTRAL_TENSOR_PARALLEL_SIZE"] == str(gpus)
    shm = next(v for v in pod["volumes"] if v["name"] == "dshm")["emptyDir"]
    assert shm == {"medium": "Memory", "sizeLimit": f"{SHM_GIB_PER_GPU * gpus}Gi"}
    assert {"name": "dshm", "mountPath": "/dev/shm"} in container["volumeMounts"]
    if gpus > 1:
        assert env.items() >= MULTICAST_OFF.items()
    else:
        assert not set(MULTICAST_OFF) & set(env)
    for version in ("1.30.0", "1.37.0"):
        kubernetes_validate.validate(deployment, version, strict=True)


def test_gpu_counts_other_than_powers_of_two_are_refused() -> None:
    from voxtral_operator.api.problems import SpecError

    with pytest.raises(
        SpecError, match="gpusPerReplica: 3 is not allowed: use one of 1, 2, 4 or 8"
    ):
        parse(vxs({"model": {"preset": "voxtral-small-24b"}, "gpusPerReplica": 3}, uid="u-1"))
