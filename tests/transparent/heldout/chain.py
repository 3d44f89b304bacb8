# Held-out style check: ordinary Python (dicts, big integers, hashlib,
# a generator), knowing nothing of ckpt. Prints one line per step.
import hashlib, sys, time
steps = int(sys.argv[1]) if len(sys.argv) > 1 else 30
digest = b"start"
fib = (0, 1)
seen = {}
def squares():
    k = 0
    while True:
        yield k * k
        k += 1
sq = squares()
for i in range(steps):
    digest = hashlib.sha256(digest + str(i).encode()).digest()
    fib = (fib[1], fib[0] + fib[1])
    seen[digest.hex()[:6]] = i
    print(i, digest.hex()[:16], fib[1] % 1000003, next(sq), len(seen), flush=True)
    time.sleep(0.1)
