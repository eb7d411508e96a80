"""``python -m tests.infra.chatty LINES [SLEEP_S]``: numbered lines of 100 bytes on stdout, then
``done``, then (optionally) sleeps: a process whose output outgrows a small log cap."""

import sys
import time

lines = int(sys.argv[1])
for i in range(lines):
    sys.stdout.write(f"line {i:08d} " + "x" * 85 + "\n")
sys.stdout.write("done\n")
sys.stdout.flush()
time.sleep(float(sys.argv[2]) if len(sys.argv) > 2 else 0)
