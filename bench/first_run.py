"""First run: README's first command's `dgbot ask` on an empty cache (convert the model, export
the embedder and the reader to int8 ONNX, build the index, answer), timed, with the memory of the
whole process tree sampled every 50 ms: the export runs in child processes, so the largest single
process (what `/usr/bin/time` reports) says too little.

    python -m bench.first_run

Runs this checkout's code in a fresh process (the installed packages are reused: installing is
not what is measured) with `DGBOT_CACHE_DIR` and the index in a new temporary folder.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
QUESTION = "กรมพัฒนาธุรกิจการค้าได้รับรางวัลอะไรในปี 2563"
SAMPLE_SECONDS = 0.05
PAGE = os.sysconf("SC_PAGE_SIZE")


def _children() -> dict[int, list[int]]:
    """Every live process's children, from /proc (no third-party package needed)."""
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(parent, []).append(int(entry.name))
    return tree


def tree_rss(root: int) -> int:
    """Resident bytes of ``root`` and all its descendants now."""
    tree, total, todo = _children(), 0, [root]
    while todo:
        pid = todo.pop()
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
        except OSError:
            continue
        todo.extend(tree.get(pid, []))
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--question", default=QUESTION)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="dgbot-first-run-") as tmp:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("DGBOT_")},
            "DGBOT_CACHE_DIR": str(Path(tmp) / "cache"),
            "DGBOT_INDEX_DIR": str(Path(tmp) / "index"),
            "PYTHONPATH": str(REPO),
        }
        started, peak = time.monotonic(), 0
        ask = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "ask", args.question],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        while ask.poll() is None:
            peak = max(peak, tree_rss(ask.pid))
            time.sleep(SAMPLE_SECONDS)
        wall = time.monotonic() - started
        answer = ask.stdout.read() if ask.stdout else ""
    print(
        json.dumps(
            {
                "exit": ask.returncode,
                "wall_s": round(wall, 1),
                "peak_tree_gb": round(peak / 2**30, 2),
                "answer": answer.strip().splitlines()[:2],
            },
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
