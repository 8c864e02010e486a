"""Fixtures every test folder uses: one converted model and one index of the bundled corpus per
test session, a copy of that index to damage, and the environment for running ``dgbot``."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from index.settings import Settings
from tests.support.paths import REPO


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    """Reuse DGBOT_TEST_CACHE across runs if set (saves the one-off model conversion)."""
    given = os.environ.get("DGBOT_TEST_CACHE")
    return Path(given) if given else tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="session")
def settings(cache_dir, tmp_path_factory) -> Settings:
    return Settings(
        corpus_dir=REPO / "corpus",
        cache_dir=cache_dir,
        index_dir=tmp_path_factory.mktemp("index") / "idx",
    )


@pytest.fixture(scope="session")
def embedder(settings):
    from index.model.embedder import load_embedder

    return load_embedder(settings)


@pytest.fixture(scope="session")
def torch_embedder(settings):
    """The fp32 PyTorch backend: the reference the int8 default is checked against."""
    from index.model.embedder import load_embedder

    return load_embedder(settings.model_copy(update={"backend": "torch"}))


@pytest.fixture(scope="session")
def engine(settings, embedder):
    from index.build.from_settings import open_or_build

    return open_or_build(settings, embedder=embedder)


@pytest.fixture
def live_copy(settings, engine, tmp_path) -> Path:
    """A copy of the session's built index, this test's own to damage."""
    folder = tmp_path / "index"
    shutil.copytree(settings.index_path, folder)
    return folder


@pytest.fixture
def env(settings, tmp_path) -> dict[str, str]:
    """Environment for running the ``dgbot`` CLI as a subprocess against the session's model."""
    out = {k: v for k, v in os.environ.items() if not k.startswith("DGBOT_")}
    out.update(
        DGBOT_CACHE_DIR=str(settings.cache_dir),
        DGBOT_CORPUS_DIR=str(settings.corpus_dir),
        DGBOT_INDEX_DIR=str(
            settings.model_copy(update={"index_dir": tmp_path / "cli-index"}).index_path
        ),
    )
    return out
