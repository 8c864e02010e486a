"""Where the tests find the repository and the CI-only ``../shared`` folder."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"


def shared_path(rel: str) -> Path:
    """A file under ../shared, or skip: a user's fresh clone does not have that folder."""
    path = SHARED / rel
    if not path.exists():
        pytest.skip(f"needs ../shared/{rel} (present in CI, absent in a fresh clone)")
    return path
