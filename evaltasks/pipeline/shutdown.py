"""The end of a launcher process, without collecting its garbage.

At exit Python frees what is still alive and runs full garbage collections
over it: ~20 ms of CPU after a `doit` rerun of 200 up-to-date tasks has printed
its last line (a seventh of the whole run; the same in a bare dodo.py's: it is
the interpreter's, bench/RESULTS.md). ``gc.freeze()`` at exit leaves those
collections nothing to traverse. The teardown itself still happens: every
atexit handler runs, every object without a reference cycle is freed, the
standard streams are flushed. What is given up: objects kept alive only by a
cycle are not finalized at exit, which Python does not promise either (the data
model's note on ``__del__``); every file the launcher writes is closed where it
is written (``with``), and the operating system closes the rest.

Armed only where evaltasks owns the process and it is about to end: dodo.py
(doit's process) and the `evaltasks` command. A library caller's process is
not ours to change: frozen objects are never collected, which a long-lived
process would notice (a test run in one pytest process arms it too, harmlessly:
it only makes pytest's own exit quicker)."""

import atexit
import gc

_armed = False


def collect_nothing_at_exit():
    """Freeze the garbage collector as the process exits (once, however often called)."""
    global _armed
    if not _armed:
        atexit.register(gc.freeze)
        _armed = True
