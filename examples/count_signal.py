#!/usr/bin/env python3
"""count_signal.py: the tutorial's second demo (story S2, in Python).

The state is saved only when a signal arrives: SIGINT (Ctrl-C) or SIGTERM
save and stop (exit status 85), SIGUSR1 saves and goes on. The next start
resumes.
Usage: count_signal.py [LAST [DELAY_MS]]   (defaults: 10, 1000)
"""
import sys
import time

import ckpt

last = int(sys.argv[1]) if len(sys.argv) > 1 else 10
delay = (int(sys.argv[2]) if len(sys.argv) > 2 else 1000) / 1000

ck = ckpt.Checkpointer()  # signals SIGUSR1, SIGTERM, SIGINT by default
ck.register("i", 0)
ck.restore()

while ck["i"] < last:
    ck["i"] += 1
    print(ck["i"], flush=True)
    time.sleep(delay)
    ck.checkpoint_if_due()  # a safe point: i is printed and complete
