"""Cores and child processes: how many cores this process may use, and children that follow it.

Both the build (chunking workers) and the model (each step of building it in a fresh process)
start children; they share these rules, so neither side imports the other for them. Children
are started with "spawn", not fork: a fork would start with a copy of this process's memory
(and may hang on a lock held by another thread).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool


def default_threads() -> int:
    """All cores this process may use (``DGBOT_THREADS`` sets fewer, e.g. for replicas)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def follow_parent() -> None:
    """Worker start-up: Ctrl-C is the parent's to handle; the parent's end is this worker's."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()


def _exit_with(parent: multiprocessing.process.BaseProcess) -> None:
    parent.join()  # returns when the parent process is gone, however it ended
    os._exit(1)


def in_fresh_process(step, *args):
    """``step(*args)`` in a new Python process, which gives back all its memory when it ends: for
    the steps of a model build, whose freed memory would otherwise stay with the caller. The
    child is spawned, so ``step`` must be a module-level function and the main script must
    start its work under ``if __name__ == "__main__"``. Its errors are raised here; Ctrl-C
    here ends it at once."""
    pool = ProcessPoolExecutor(
        1, mp_context=multiprocessing.get_context("spawn"), initializer=follow_parent
    )
    try:
        return pool.submit(step, *args).result()
    except BrokenProcessPool as exc:
        name = step.__name__.strip("_")
        raise RuntimeError(f"the {name} process died (killed, or out of memory?)") from exc
    except BaseException:
        for process in list((pool._processes or {}).values()):  # no public way before 3.14
            process.terminate()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
