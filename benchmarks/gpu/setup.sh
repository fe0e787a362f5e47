#!/usr/bin/env bash
# On the GPU machine. Each call carries one part of .whl/parts (benchmarks/gpu/fetch_wheels.sh)
# and runs this script, which keeps the part in /tmp/carry (the warm machine keeps /tmp
# between calls that follow each other). With INSTALL=1, after the last part: reassemble
# and install everything with --no-deps into /tmp/site (then PYTHONPATH=/tmp/site).
set -euo pipefail
mkdir -p /tmp/carry
for part in .whl/parts/part-*; do
  [ -f "$part" ] && cp "$part" /tmp/carry/
done
ls /tmp/carry
if [ "${INSTALL:-0}" = 1 ]; then
  rm -rf /tmp/wheels && mkdir -p /tmp/wheels
  cat /tmp/carry/part-* | tar -C /tmp/wheels -xf -
  python3 -m pip install -q --no-index --no-deps --no-compile --disable-pip-version-check \
    --target /tmp/site /tmp/wheels/*.whl
  echo "installed $(ls /tmp/wheels | wc -l) wheels into /tmp/site"
fi
