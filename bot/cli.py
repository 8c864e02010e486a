"""``dgbot``: the engine's commands plus ``dgbot serve``, the Telegram bot."""

from __future__ import annotations

import argparse
import logging
import sys

from telegram.error import InvalidToken, NetworkError

from index.cli import build_parser, run
from index.settings import Settings, SettingsError

NO_TOKEN = (
    "DGBOT_TELEGRAM_TOKEN is not set: get a bot token from @BotFather (see README), "
    "or try the bot in the terminal with `dgbot chat`"
)


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the bot until Ctrl-C: long polling, or a webhook with ``--webhook URL``."""
    settings = Settings.load()
    if not settings.telegram_token:
        raise SettingsError(NO_TOKEN)
    try:
        logging.basicConfig(
            level=settings.log_level.upper(),
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
    except ValueError as exc:  # an unknown level name
        raise SettingsError(f"DGBOT_LOG_LEVEL={settings.log_level!r}: {exc}") from exc
    from .app import build_application, serve  # here: other commands need not load the bot

    app = build_application(settings)
    try:
        serve(app, args.webhook)
    except InvalidToken:
        print("dgbot: error: Telegram rejected DGBOT_TELEGRAM_TOKEN; check it", file=sys.stderr)
        return 1
    except NetworkError as exc:
        reason = exc.message.replace(settings.telegram_token, "[REDACTED]")
        print(f"dgbot: error: cannot reach Telegram: {reason}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser, sub = build_parser()
    serve = sub.add_parser(
        "serve",
        help="run the Telegram bot (long polling, or a webhook)",
        description="run the Telegram bot; needs DGBOT_TELEGRAM_TOKEN",
    )
    serve.add_argument(
        "--webhook",
        metavar="URL",
        help="public HTTPS URL Telegram posts updates to (default: long polling); the bot "
        "listens on DGBOT_WEBHOOK_LISTEN:DGBOT_WEBHOOK_PORT behind your reverse proxy",
    )
    serve.set_defaults(func=cmd_serve)
    return run(parser, argv)


if __name__ == "__main__":
    sys.exit(main())
