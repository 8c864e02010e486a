"""Ways an index folder gets damaged on disk: cut short, one byte flipped, a full disk."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

from index.store.folder import MANIFEST

DISK_FULL = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def damage(path: Path, how: str) -> None:
    """``truncated``: the file cut in half; otherwise one byte changed, same size (only the
    checksum can tell)."""
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    else:
        middle = len(data) // 2
        path.write_bytes(data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :])


def file_kinds(folder: Path) -> dict[str, str]:
    """One file of each kind the manifest lists (a lexical index is a folder of files)."""
    files = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))["files"]
    return {rel.split("/")[0]: rel for rel in sorted(files)}
