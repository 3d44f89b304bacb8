"""A program for python_test.cc: registers a numpy array, bytes and a
picklable object; `save` fills and checkpoints them, `load` restores and
prints what it found. Usage: state.py save|load|badarray|wrongsize"""
import sys

import numpy

import ckpt

mode = sys.argv[1]
ck = ckpt.Checkpointer()
grid = numpy.zeros((4, 256), dtype=numpy.float64)
address = grid.ctypes.data
if mode == "badarray":
    try:
        ck.register("view", grid[:, ::2])  # not contiguous
    except ckpt.Error as e:
        print("error:", e, e.code)
    sys.exit(0)
if mode == "wrongsize":
    grid = numpy.zeros(10)
ck.register("grid", grid)
ck.register("blob", b"")
ck.register("obj", {"step": 0})
info = ck.restore()
if mode == "save":
    grid[:] = numpy.arange(grid.size).reshape(grid.shape)
    ck["blob"] = bytes(range(256)) * 3
    ck["obj"] = {"step": 42, "name": "run", "list": [1.5, None]}
    ck.checkpoint()
    print("saved", ck.generation)
elif mode == "load":
    assert info["restored"], info
    print("restored", info["generation"])
    print("in place", grid.ctypes.data == address)
    print("grid", bool((grid == numpy.arange(grid.size).reshape(grid.shape)).all()))
    print("blob", ck["blob"] == bytes(range(256)) * 3)
    print("obj", ck["obj"])
