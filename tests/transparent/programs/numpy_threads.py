# numpy work in several Python threads (numpy releases the GIL).
import sys, threading, time
import numpy as np
n = int(sys.argv[1]) if len(sys.argv) > 1 else 30
rng = np.random.default_rng(7)
a = rng.random((300, 300))
results = [0.0] * 4
def work(k, step):
    m = a + k + step
    results[k] = float(np.linalg.norm(m @ m.T))
for s in range(n):
    ts = [threading.Thread(target=work, args=(k, s)) for k in range(4)]
    for t in ts: t.start()
    for t in ts: t.join()
    print("step", s, "%.6e" % sum(results), flush=True)
    time.sleep(0.1)
