"""Write a file or a folder so that readers see the old one or the new one, never half of one."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

TEMP_SUFFIX = ".tmp"  # what a kill can leave behind: ``.<name>.<random>.tmp`` beside the file


def sync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable: without it a power cut can undo the rename."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _temp_beside(target: Path) -> tuple[int, str]:
    """An open temporary file in ``target``'s folder (made if missing), named after it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    return tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=TEMP_SUFFIX)


def write_atomic(target: Path, write: Callable[[BinaryIO], None]) -> Path:
    """``write`` fills a temporary file beside ``target``, which is synced and renamed over it
    (the rename synced too); a failure (or a kill) leaves ``target`` as it was and no temporary
    file behind (a kill may leave one, named ``.<name>.*.tmp``)."""
    target = Path(target)
    fd, tmp = _temp_beside(target)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        sync_folder(target.parent)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def create_once(target: Path, data: bytes, mode: int = 0o600) -> bool:
    """Create ``target`` holding ``data`` whole, unless it exists; True if this call made it.

    The data is written and synced under a temporary name, then hard-linked to ``target``:
    linking fails if ``target`` exists, so of two processes racing exactly one wins, and no
    one (nor a crash) ever sees the file empty or half-written."""
    target = Path(target)
    fd, tmp = _temp_beside(target)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.link(tmp, target)
        return True
    except FileExistsError:
        return False
    finally:
        Path(tmp).unlink(missing_ok=True)


@contextmanager
def atomic_folder(target: Path, prefix: str = ".building-") -> Iterator[Path]:
    """A temporary folder beside ``target`` to build in; when the block ends without an error it
    replaces ``target`` whole, otherwise it is removed and ``target`` is left as it was."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=prefix, dir=target.parent))
    try:
        yield work
        if target.exists():
            shutil.rmtree(target)
        os.replace(work, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
