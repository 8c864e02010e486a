"""The PostgreSQL server tests may use: given by DGBOT_TEST_POSTGRES_URL, or the test skips."""

from __future__ import annotations

import os

import pytest

POSTGRES_ENV = "DGBOT_TEST_POSTGRES_URL"


def postgres_url() -> str:
    """The test server's URL from DGBOT_TEST_POSTGRES_URL (CI: .ci/postgres.sh), or skip."""
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"no PostgreSQL: set {POSTGRES_ENV} (CI starts one with .ci/postgres.sh)")
    return url
