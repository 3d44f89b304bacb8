"""For python_test.cc: after restore() the directory becomes read-only, so
the checkpoint a stop signal asks for fails; the program must then end as
it would without ckpt."""
import os

import ckpt

ck = ckpt.Checkpointer()
ck.register("i", 0)
ck.restore()
os.chmod(ck.dir, 0o500)
print("ready", flush=True)
while True:
    ck.checkpoint_if_due()
