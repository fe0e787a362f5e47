"""resource.Quantity: what kube-apiserver stores for a quantity written as the key. From
k8s.io/apimachinery pkg/api/resource quantity_test.go (TestQuantityParseEmit,
TestParseQuantity, TestQuantityString) and ParseQuantity(s).String() of the upstream package
built and run for the purpose (apimachinery HEAD, July 2026)."""

from __future__ import annotations

from typing import Final

CANONICAL: Final[dict[str, str]] = {
    # decimal
    "0.5": "500m", "1000m": "1", "1000": "1k", "4000": "4k", "1500": "1500",
    "120000": "120k", "1000k": "1M", "12.5": "12500m", "0.1": "100m", "0.0001": "100u",
    "1000u": "1m", "1000000n": "1m", "1n": "1n", "1024": "1024", "8.1k": "8100",
    "9.01": "9010m", "1.5G": "1500M", "10000000000": "10G", "1.0": "1",
    "1.0000000001": "1000000001n", "1000M": "1G", "1080m": "1080m",
    "1000000000000000000": "1E", "10000000000000000000": "10E",
    "999999999999999999.1": "999999999999999999100m", "1000E": "1", "10000E": "10",
    # rounded up to a nano-unit
    "0.0000000001": "1n", "0.9n": "1n", "3.001n": "4n", "0.00000012345": "124n",
    "1.1E-9": "2e-9", "1e-12": "1e-9", "0.1m": "100u",
    # exponent
    "1e3": "1e3", "1.2e3": "1200", "12e2": "1200", "10e2": "1e3", "1000e0": "1e3",
    "1e1": "10", "1.3E+6": "1300e3", "0.5e0": "500e-3", "1e21": "1e21",
    # binary, whole bytes
    "65536Mi": "64Gi", "1536Mi": "1536Mi", "0.5Gi": "512Mi", "1.5Gi": "1536Mi",
    "0.25Gi": "256Mi", "2.5Gi": "2560Mi", "10.5Gi": "10752Mi", "0.5Mi": "512Ki",
    "1.5Mi": "1536Ki", "4096Mi": "4Gi", "1024Gi": "1Ti", "1000Mi": "1000Mi",
    "100Gi": "100Gi", "1.0Gi": "1Gi", "1Ki": "1Ki", "1024Mi": "1Gi",
    # binary, not whole bytes or under 1024: decimal
    "0.1Gi": "107374182400m", "0.3Gi": "322122547200m", "0.05Gi": "53687091200m",
    "0.025Ti": "27487790694400m", "1.1Ki": "1126400m", "100.035Ki": "102435840m",
    "0.5Ki": "512", "1.5Ki": "1536", ".001Ki": "1024m", ".000001Ki": "1024u",
    ".000000001Ki": "1024n", ".000000000001Ki": "2n",
    # binary, capped at 2^63-1
    "9Ei": "9223372036854775807", "8Ei": "9223372036854775807",
    # negative and zero
    "-0.5": "-500m", "-1000": "-1k", "-1.5Gi": "-1536Mi", "-0.5Gi": "-512Mi",
    "-0.5Ki": "-512", "-1.1Ki": "-1126400m", "-0.0000000001": "-1n", "-1e3": "-1e3",
    "0": "0", "0m": "0", "0Ki": "0",
}  # fmt: skip
