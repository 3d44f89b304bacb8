"""A program for python_test.cc: increments of a numpy array
(full_every). `save` checkpoints a 16 MiB array, changes one slice and
checkpoints again, and prints the sizes of the two images; `load`
restores the newest and says whether the array is the changed one.
Usage: increments.py save|load"""
import os
import sys

import numpy

import ckpt

mode = sys.argv[1]
ck = ckpt.Checkpointer(dir="inc.d", full_every=4)
grid = numpy.zeros(2 << 20, dtype=numpy.float64)
ck.register("grid", grid)
info = ck.restore()


def expected():
    g = numpy.arange(grid.size, dtype=numpy.float64)
    g[1000:2000] = -1.0
    return g


if mode == "save":
    grid[:] = numpy.arange(grid.size, dtype=numpy.float64)
    ck.checkpoint()
    grid[1000:2000] = -1.0
    ck.checkpoint()
    sizes = [os.path.getsize(os.path.join("inc.d", "ckpt-%012d.img" % g)) for g in (1, 2)]
    print("second/first below 3%", sizes[1] < sizes[0] * 0.03)
elif mode == "load":
    print("restored", info["generation"])
    print("grid", bool((grid == expected()).all()))
