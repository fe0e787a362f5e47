#!/usr/bin/env bash
# On the GPU machine: a run longer than one call (10 minutes). A process in its own session
# runs on after its call returns, until the machine goes back (it stays while calls follow
# each other within its warm time), so the run starts detached and later calls wait for it
# and bring back what it has written so far.
#   bash benchmarks/gpu/background.sh start 'COMMAND'   # detached; writes in /tmp/bg
#   bash benchmarks/gpu/background.sh wait SECONDS      # until it ends or SECONDS pass;
#                                                       # copies /tmp/bg's results to $OUT
set -euo pipefail
BG=/tmp/bg
case "$1" in
  start)
    mkdir -p "$BG"
    setsid nohup bash -c "$2; echo \$? > $BG/rc" > "$BG/log.txt" 2>&1 < /dev/null &
    echo "started: $2"
    ;;
  wait)
    deadline=$((SECONDS + $2))
    while [ ! -f "$BG/rc" ] && [ "$SECONDS" -lt "$deadline" ]; do sleep 5; done
    cp "$BG"/*.json "$BG/log.txt" "$OUT"/ 2>/dev/null || true
    tar -C "$BG" -czf "$OUT/server-logs.tgz" --wildcards '*.log' 2>/dev/null || true
    nvidia-smi --query-gpu=index,memory.used,utilization.gpu --format=csv,noheader || true
    tail -c 5000 "$BG/log.txt"
    if [ -f "$BG/rc" ]; then echo "finished: exit $(cat "$BG/rc")"; else echo "still running"; fi
    ;;
esac
