# A pure-Python loop with state in objects.
import sys, time
n = int(sys.argv[1]) if len(sys.argv) > 1 else 30
state = {"total": 0, "items": []}
for i in range(n):
    state["total"] += i * i
    state["items"].append(str(i))
    print("step", i, state["total"], len("".join(state["items"])), flush=True)
    time.sleep(0.1)
