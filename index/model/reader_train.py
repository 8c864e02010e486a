"""Train the reader on CPU (``dgbot model train-reader``): seeded, resumable, with progress.

A run keeps everything in its output folder: the examples it trains on (built once from the data
and the seed), ``checkpoint.pt`` (trainable weights, optimiser, schedule, step, random state;
replaced atomically every ``save_every`` steps, so a killed run loses at most that much and
continues exactly where it stopped), and at the end one shippable file per exit depth,
``reader-L{n}.safetensors``.
"""

from __future__ import annotations

import gzip
import io
import json
import resource
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from index.atomic import write_atomic
from index.model.reader_data import Example, batches, build_examples, collate, read_rows
from index.model.reader_model import FROZEN, from_encoder, shipped_state, span_loss
from index.progress import Progress

CHECKPOINT = "checkpoint.pt"
EXAMPLES = "examples.jsonl.gz"


@dataclass(frozen=True)
class TrainConfig:
    data: tuple[Path, ...]  # iApp-style JSONL(.gz) files of questions
    out: Path  # run folder: examples, checkpoint, shipped files
    model_dir: Path  # the converted e5 folder the encoder starts from
    steps: int = 1000
    batch: int = 16
    lr: float = 1e-4  # peak; linear warm-up, then linear decay to 0
    warmup: float = 0.06  # share of the steps spent warming up
    weight_decay: float = 0.01
    negatives: float = 0.8  # unanswerable windows per question, on average
    seed: int = 0
    save_every: int = 50
    threads: int = 0  # 0 = every core this process may use
    repeat: tuple[int, ...] = ()  # times each data file is used (default once each)
    init: Path | None = None  # start from another run's last checkpoint (a second stage)


def special_ids(tokenizer) -> tuple[int, int, int]:
    """``<s>``, ``</s>`` and ``<pad>`` ids of the e5 (XLM-R) tokenizer."""
    return tuple(tokenizer.token_to_id(t) for t in ("<s>", "</s>", "<pad>"))


def _examples(cfg: TrainConfig, tokenizer) -> list[Example]:
    """The run's examples: read back if this run built them already, else built and saved."""
    saved = cfg.out / EXAMPLES
    if saved.is_file():
        with gzip.open(saved, "rt", encoding="utf-8") as fh:
            return [Example(**json.loads(line)) for line in fh]
    rows = []
    for n, data in enumerate(cfg.data):
        rows += read_rows(data) * (cfg.repeat[n] if n < len(cfg.repeat) else 1)
    bos, eos, _ = special_ids(tokenizer)
    examples = build_examples(rows, tokenizer, bos, eos, cfg.seed, cfg.negatives)
    lines = "".join(json.dumps(asdict(e)) + "\n" for e in examples).encode()
    write_atomic(saved, lambda fh: fh.write(gzip.compress(lines)))
    return examples


def _schedule(cfg: TrainConfig):
    warm = max(1, int(cfg.steps * cfg.warmup))

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return max(0.0, (cfg.steps - step) / max(1, cfg.steps - warm))

    return factor


def _save_checkpoint(path: Path, model, optimizer, scheduler, step: int) -> None:
    import torch

    state = {
        "model": {k: v for k, v in model.state_dict().items() if k != FROZEN},
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "step": step,
        "rng": torch.get_rng_state(),
    }
    buffer = io.BytesIO()
    torch.save(state, buffer)
    write_atomic(path, lambda fh: fh.write(buffer.getvalue()))


def train(cfg: TrainConfig, progress: Progress) -> list[Path]:
    """Train (or continue training) and write the shippable files; returns their paths."""
    import numpy as np
    import torch
    from tokenizers import Tokenizer

    from index.processes import default_threads

    torch.set_num_threads(cfg.threads or default_threads())
    torch.manual_seed(cfg.seed)
    cfg.out.mkdir(parents=True, exist_ok=True)
    tokenizer = Tokenizer.from_file(str(cfg.model_dir / "tokenizer.json"))
    examples = _examples(cfg, tokenizer)
    per_epoch = len(examples) // cfg.batch
    if per_epoch == 0:
        raise ValueError(f"{len(examples)} examples make no batch of {cfg.batch}")
    kinds = {k: sum(e.kind == k for e in examples) for k in sorted({e.kind for e in examples})}
    progress.note(f"{len(examples):,} examples {kinds}, {per_epoch} steps an epoch")
    model = from_encoder(cfg.model_dir)
    params = model.trainable()
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _schedule(cfg))
    step = 0
    checkpoint = cfg.out / CHECKPOINT
    if cfg.init and not checkpoint.is_file():
        start = torch.load(cfg.init / CHECKPOINT, weights_only=False)["model"]
        model.load_state_dict(start, strict=False)
        progress.note(f"starting from {cfg.init / CHECKPOINT}")
    if checkpoint.is_file():
        state = torch.load(checkpoint, weights_only=False)
        model.load_state_dict(state["model"], strict=False)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        step = int(state["step"])
        torch.set_rng_state(state["rng"])
        progress.note(f"resuming at step {step} from {checkpoint}")
    (cfg.out / "run.json").write_text(json.dumps(asdict(cfg), default=str, indent=1) + "\n")
    _, _, pad = special_ids(tokenizer)
    stage = progress.stage("training", cfg.steps - step, "steps")
    model.train()
    losses: list[float] = []
    started = time.monotonic()
    while step < cfg.steps:
        epoch, index = divmod(step, per_epoch)
        for batch in list(batches(examples, cfg.batch, cfg.seed, epoch))[index:]:
            if step >= cfg.steps:
                break
            arrays = {k: torch.from_numpy(v) for k, v in collate(batch, pad).items()}
            loss = span_loss(
                model(arrays["input_ids"], arrays["attention_mask"]),
                arrays["start"],
                arrays["end"],
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            scheduler.step()
            step += 1
            losses.append(loss.item())
            if step % 10 == 0:
                progress.note(
                    f"step {step}/{cfg.steps} epoch {epoch} loss {np.mean(losses[-10:]):.3f} "
                    f"lr {scheduler.get_last_lr()[0]:.2e}"
                )
            stage.advance()
            if step % cfg.save_every == 0 or step == cfg.steps:
                _save_checkpoint(checkpoint, model, optimizer, scheduler, step)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    progress.note(
        f"trained to step {step} in {time.monotonic() - started:.0f} s, peak {peak_mb:.0f} MB"
    )
    return export_exits(model, cfg.out)


def export_exits(model, out: Path) -> list[Path]:
    """One fp16 ``reader-L{n}.safetensors`` per exit depth of a trained reader."""
    from safetensors.torch import save

    paths = []
    for layers in model.exits:
        data = save(shipped_state(model, layers), metadata={"layers": str(layers)})
        paths.append(
            write_atomic(out / f"reader-L{layers}.safetensors", lambda fh, d=data: fh.write(d))
        )
    return paths


def load_checkpoint(model_dir: Path, out: Path):
    """The reader as last saved in a run folder (to evaluate a run that is still going)."""
    import torch

    model = from_encoder(model_dir)
    state = torch.load(out / CHECKPOINT, weights_only=False)
    model.load_state_dict(state["model"], strict=False)
    return model.eval(), int(state["step"])
