"""End-to-end answer time of the bot, once loaded: the real ``serve`` loop against the local fake
Bot API server, the engine issue's question asked N times, time from the update being offered to
the answer arriving at the fake server (long-poll hand-off included).

    python -m bench.bot_latency [-n 30]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from bot.settings import BotSettings
from index.build.builder import build_index, load_articles
from index.model.embedder import load_embedder
from index.search.engine import Engine
from tests.support.live_bot import DBD_2020, running
from tests.support.users import FakeTelegram

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=30)
    args = ap.parse_args()
    base = BotSettings.load()
    embedder = load_embedder(base.engine)
    with tempfile.TemporaryDirectory() as tmp, FakeTelegram() as tg:
        folder = Path(tmp) / "idx"
        build_index(load_articles(REPO / "corpus")[0], embedder, folder)
        settings = base.model_copy(
            update={
                "engine": base.engine.model_copy(
                    update={"cache_dir": Path(tmp), "index_dir": folder}
                ),
                "telegram_token": tg.token,
                "telegram_base_url": tg.base_url,
                "user_rate_per_minute": 0,
            }
        )
        engine = Engine.open(settings.engine, embedder=embedder)
        seconds, right = [], 0
        with running(settings, engine):
            for i in range(args.n):
                chat = 1000 + i  # a new chat each time: no follow-up merging
                started = time.perf_counter()
                tg.send_text(chat, DBD_2020)
                message = tg.wait_for_message(chat, timeout=30)
                seconds.append(time.perf_counter() - started)
                right += "กรมพัฒนาธุรกิจการค้า" in message["text"] and "2563" in message["text"]
    seconds.sort()
    print(
        json.dumps(
            {
                "questions": args.n,
                "answered_correctly": right,
                "p50_ms": round(1000 * statistics.median(seconds), 1),
                "p95_ms": round(1000 * seconds[int(0.95 * (len(seconds) - 1))], 1),
                "max_ms": round(1000 * seconds[-1], 1),
            }
        )
    )


if __name__ == "__main__":
    main()
