"""libckpt for Python: save a computation's state, resume it later.

    import ckpt
    ck = ckpt.Checkpointer()          # directory: $CKPT_DIR, else ./ckpt.d
    ck.register("i", 0)               # any picklable object
    grid = numpy.zeros(1000)
    ck.register("grid", grid)         # numpy array: saved and restored in place
    ck.restore()                      # loads the newest sound generation, if any
    while ck["i"] < steps:
        step(grid)
        ck["i"] += 1
        ck.checkpoint_if_due()        # cheap when nothing is due

The triggers are those of C++ (docs/libckpt.md): an interval (CKPT_INTERVAL),
signals (SIGUSR1: save and go on; SIGTERM, SIGINT: save and exit with status
85 by raising SystemExit(85)), a deadline (found under Slurm; CKPT_DEADLINE,
CKPT_MARGIN). libckpt's handlers replace Python's for those signals, so
Ctrl-C checkpoints at the next safe point instead of raising
KeyboardInterrupt; a second Ctrl-C before that point raises
KeyboardInterrupt as if ckpt were not there. Do not set handlers for them
with the signal module after restore().
"""

import pickle

from ckpt._ckpt import EXIT_STOPPED, Error, version
from ckpt._ckpt import Checkpointer as _Core

__all__ = ["Checkpointer", "Error", "EXIT_STOPPED", "version"]
__version__ = version


def _is_buffer(value):
    if isinstance(value, (bytes, str)):
        return False
    try:
        memoryview(value)
    except TypeError:
        return False
    return True


class Checkpointer:
    """One job directory's checkpoints.

    Keywords (None: the environment's value, else the default of C++):
    dir, interval (seconds), signals, stop_signals (lists of signal
    numbers), exit_on_stop, stop_exit_status (85), deadline (unix time),
    margin (seconds), find_slurm_deadline, keep, compress (0, or a zstd
    level), full_every (1: every image full; N: a full image every N,
    between them only the 64 KiB blocks that changed), async_, quiet.
    """

    def __init__(self, dir=None, **options):
        self._core = _Core(dir=dir, **options)
        self._values = {}  # name -> current value (objects and bytes)
        self._buffers = {}  # name -> registered buffer (restored in place)

    def register(self, name, value):
        """Registers state under a unique name, before restore().

        - An object with a writable C-contiguous buffer (a numpy array,
          bytearray, array.array): zero-copy; checkpoints read its memory and
          restore writes into it. Its size must be the same at restore. It
          cannot be resized while registered.
        - bytes: saved as they are; ck[name] is the restored value.
        - anything else: pickled at each checkpoint; ck[name] is the value.
        Returns value.
        """
        if name in self._values or name in self._buffers:
            raise Error(f"entry '{name}' is registered twice", "invalid")
        if _is_buffer(value):
            self._core.add_buffer(name, value)
            self._buffers[name] = value
            return value
        raw = isinstance(value, bytes)
        if raw:
            save = lambda: self._values[name]
            load = lambda data: self._values.__setitem__(name, data)
        else:
            save = lambda: pickle.dumps(self._values[name], pickle.HIGHEST_PROTOCOL)
            load = lambda data: self._values.__setitem__(name, pickle.loads(data))
        self._core.add_callbacks(name, save, load)
        self._values[name] = value
        return value

    def __getitem__(self, name):
        if name in self._buffers:
            return self._buffers[name]
        return self._values[name]

    def __setitem__(self, name, value):
        if name in self._buffers:
            raise TypeError(f"'{name}' is a registered buffer: assign into it (ck['{name}'][...] = v)")
        if name not in self._values:
            raise KeyError(f"'{name}' is not registered")
        if isinstance(self._values[name], bytes) and not isinstance(value, bytes):
            raise TypeError(f"'{name}' was registered as bytes")
        self._values[name] = value

    def restore(self):
        """Loads the newest sound generation into the registered state and
        starts the triggers. Returns a dict: restored (bool), generation,
        path, skipped_damaged. Nothing to restore is not an error."""
        return self._core.restore()

    def start(self):
        """Starts the triggers without restoring (restore() does this too)."""
        self._core.start()

    def checkpoint(self):
        """Writes a generation now; raises Error if it fails."""
        self._core.checkpoint()

    def checkpoint_if_due(self):
        """Checkpoints if due; True if it did. A failure is reported on
        stderr and returns False. After a stop signal: SystemExit(85)."""
        return self._core.checkpoint_if_due()

    def due(self):
        return self._core.due()

    def wait(self):
        """Waits for an asynchronous write; raises Error if it failed."""
        self._core.wait()

    @property
    def generation(self):
        return self._core.generation

    @property
    def dir(self):
        return self._core.dir
