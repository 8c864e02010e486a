"""The int8 export in steps of their own processes: the same file as in one process, in far less
memory (index/onnx_model.py, "Memory")."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import onnx
import pytest

from index.model.onnx_encoder import (
    ON_DISK_BYTES,
    ONNX_FILE,
    QUANTIZE_SLICE,
    TRACED,
    _export_fp32,
    _fuse_and_quantize,
    _pooled,
    example_inputs,
)

# The real export's processes, measured: the caller ~40 MB (it never loads PyTorch), the tracing
# 2.2-2.3 GB (0.5 GB of it the mapped weights file), fusing 1.7 GB, quantising 1.9-2.1 GB; in one
# process it was 5.8 GB. A first run must fit in 3 GB, with the caller and the model conversion.
CALLER_MB = 400
STEP_MB = 2600


def test_steps_make_the_file_one_process_made(tmp_path):
    """A small BERT whose word-embedding table is big enough to be left on disk while fusing and
    to be quantised in slices: fused and quantised by ``optimize_model`` and ``quantize_dynamic``
    in this process, and by the steps in theirs, it gives the same bytes."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers.optimizer import optimize_model
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=300_000,  # × 64 floats: 77 MB, over ON_DISK_BYTES
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=128,
        max_position_embeddings=64,
        attn_implementation="eager",
    )
    assert config.vocab_size * config.hidden_size * 4 > ON_DISK_BYTES
    assert config.vocab_size * config.hidden_size > QUANTIZE_SLICE
    bert = BertModel(config, add_pooling_layer=False).eval()
    work, steps = tmp_path / "work", tmp_path / "steps"
    work.mkdir()
    steps.mkdir()
    _export_fp32(_pooled(bert), example_inputs(), ["embedding"], work / TRACED)

    fused = optimize_model(str(work / TRACED), model_type="bert", num_heads=4, hidden_size=64)
    fused.save_model_to_file(str(tmp_path / "fused.onnx"))
    quantize_dynamic(
        tmp_path / "fused.onnx",
        tmp_path / "one.onnx",
        weight_type=QuantType.QInt8,
        per_channel=True,
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )
    _fuse_and_quantize(4, 64, steps, work)

    made = (steps / ONNX_FILE).read_bytes()
    assert made == (tmp_path / "one.onnx").read_bytes()
    ops = {node.op_type for node in onnx.load_from_string(made).graph.node}
    assert {"QEmbedLayerNormalization", "QAttention"} <= ops  # the fuser did its work


# The caller's peak is its VmHWM: its ru_maxrss would count the pytest process it was forked from.
MEASURE = """
import json, resource, sys
from pathlib import Path
from index.model.onnx_encoder import build_onnx
build_onnx(Path(sys.argv[1]), Path(sys.argv[2]))
caller = next(int(line.split()[1]) for line in open("/proc/self/status") if "VmHWM" in line)
steps = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the biggest step's process
print(json.dumps({"caller": caller // 1024, "steps": steps // 1024}))
"""


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads Linux's /proc")
def test_real_export_fits_the_memory_budget(settings, embedder, tmp_path):
    """The real model, exported in a fresh process: the caller stays small, no step's process
    passes ``STEP_MB``, and the file is the one the session's build made."""
    target = tmp_path / "onnx"
    run = subprocess.run(
        [sys.executable, "-c", MEASURE, str(settings.model_dir), str(target)],
        capture_output=True,
        text=True,
        check=True,
    )
    peaks = json.loads(run.stdout.splitlines()[-1])
    assert peaks["caller"] <= CALLER_MB and peaks["steps"] <= STEP_MB, peaks
    assert (target / ONNX_FILE).read_bytes() == (settings.onnx_dir / ONNX_FILE).read_bytes()
