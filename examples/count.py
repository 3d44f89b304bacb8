#!/usr/bin/env python3
"""count.py: the tutorial's first demo, with libckpt (story S1, in Python).

    $ python3 count.py          $ python3 count.py
    1                           4
    2                           5
    3^C                         6 ...

The state (the counter) is saved at every iteration. Ctrl-C (or SIGTERM) is
noticed at the next safe point: the state is saved there and the program
exits with status 85.
Usage: count.py [LAST [DELAY_MS]]   (defaults: 10, 1000)
"""
import sys
import time

import ckpt

last = int(sys.argv[1]) if len(sys.argv) > 1 else 10
delay = (int(sys.argv[2]) if len(sys.argv) > 2 else 1000) / 1000

ck = ckpt.Checkpointer()  # directory: $CKPT_DIR, else ./ckpt.d
ck.register("i", 0)
ck.restore()

while ck["i"] < last:
    ck["i"] += 1
    print(ck["i"], flush=True)
    ck.checkpoint()
    time.sleep(delay)
    ck.checkpoint_if_due()  # a Ctrl-C during the sleep stops here
