#!/usr/bin/env bash
# Here (a machine with PyPI): download the wheels the GPU image lacks into .whl/ and cut
# them into parts of at most 60 MB, so that each device call carries one part.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
mkdir -p .whl/all .whl/parts
grep -v '^#' benchmarks/gpu/wheels.txt | while read -r req; do
  [ -n "$req" ] || continue
  ls .whl/all | grep -qi "^$(echo "${req%%==*}" | tr - _)-${req##*==}[-.]" && continue
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform manylinux_2_24_x86_64 --platform manylinux_2_31_x86_64 \
    --platform manylinux_2_34_x86_64 --platform manylinux_2_35_x86_64 \
    --platform manylinux1_x86_64 -d .whl/all "$req"
done
# one archive of everything, in 60 MB parts: part-aa, part-ab, ...
rm -f .whl/parts/*
tar -C .whl/all -cf - . | split -b 60M - .whl/parts/part-
ls -la .whl/parts
