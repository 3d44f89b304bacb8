"""For python_test.cc: registers a counter, then works for ARGV[1] seconds
without a safe point; then one safe point, and exit 0."""
import sys
import time

import ckpt

ck = ckpt.Checkpointer()
ck.register("i", 0)
ck.restore()
print("ready", flush=True)
end = time.monotonic() + float(sys.argv[1])
while time.monotonic() < end:
    pass
ck["i"] += 1
ck.checkpoint_if_due()
print("done", flush=True)
