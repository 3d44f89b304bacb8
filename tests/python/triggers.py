"""For python_test.cc: the triggers other than signals, in one process.
Prints one line per check: interval (keyword and CKPT_INTERVAL), deadline
(keyword and CKPT_DEADLINE/CKPT_MARGIN), keywords over the environment."""
import os
import sys
import time

import ckpt


def fires(ck, within):
    """True if checkpoint_if_due() writes a generation within `within` s."""
    end = time.monotonic() + within
    while time.monotonic() < end:
        if ck.checkpoint_if_due():
            return True
        time.sleep(0.01)
    return False


mode = sys.argv[1]
if mode == "interval":  # CKPT_INTERVAL=0.3 in the environment
    ck = ckpt.Checkpointer(dir="a.d")
    ck.register("x", 1)
    ck.restore()
    print("not at once", not ck.due())
    print("after the interval", fires(ck, 2), ck.generation)
    ck2 = ckpt.Checkpointer(dir="b.d", interval=0, signals=[])
    ck2.register("x", 1)
    ck2.restore()
    print("keyword over env", not fires(ck2, 0.6))
elif mode == "deadline":  # CKPT_DEADLINE, CKPT_MARGIN in the environment
    ck = ckpt.Checkpointer(dir="c.d")
    ck.register("x", 1)
    ck.restore()
    print("before the margin", not ck.due())
    print("at the margin", fires(ck, 3))
    print("once", not fires(ck, 0.5))
    ck2 = ckpt.Checkpointer(dir="d.d", deadline=int(time.time()) + 1000, margin=999, signals=[])
    ck2.register("x", 1)
    ck2.restore()
    print("keyword deadline", fires(ck2, 3))
