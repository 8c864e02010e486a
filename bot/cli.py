"""``dgbot``: the engine's commands plus ``dgbot serve``, the Telegram bot."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys

from telegram.error import InvalidToken, NetworkError, TelegramError

from index import SettingsError, build_parser, run_command

from .settings import BotSettings

NO_TOKEN = (
    "DGBOT_TELEGRAM_TOKEN is not set: get a bot token from @BotFather (see README), "
    "or try the bot in the terminal with `dgbot chat`"
)


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the bot until Ctrl-C: long polling, or a webhook with ``--webhook URL``."""
    settings = BotSettings.load()
    if not settings.telegram_token:
        raise SettingsError(NO_TOKEN)
    try:
        logging.basicConfig(
            level=settings.log_level.upper(),
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
    except ValueError as exc:  # an unknown level name
        raise SettingsError(f"DGBOT_LOG_LEVEL={settings.log_level!r}: {exc}") from exc
    from . import app as bot_app  # here: other commands need not load the bot

    app = bot_app.build_application(settings, webhook=args.webhook is not None)
    try:
        bot_app.serve(app, args.webhook)
    except InvalidToken:
        print("dgbot: error: Telegram rejected DGBOT_TELEGRAM_TOKEN; check it", file=sys.stderr)
        return 1
    except TelegramError as exc:  # the message may quote a request URL, which holds the token
        reason = " ".join(exc.message.replace(settings.telegram_token, bot_app.REDACTED).split())
        what = "cannot reach Telegram" if isinstance(exc, NetworkError) else "Telegram refused"
        print(f"dgbot: error: {what}: {reason}", file=sys.stderr)
        return 1
    return 0


def _records(settings: BotSettings):
    from .records import Records
    from .salt import hash_salt

    return Records(settings.database, hash_salt(settings))


def _database_error(exc: Exception) -> int:
    print(f"dgbot: error: the database failed: {str(exc).splitlines()[0]}", file=sys.stderr)
    return 1


def cmd_stats(args: argparse.Namespace) -> int:
    """The /stats figures in the terminal, from the same record the bot writes."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        print(_records(BotSettings.load()).stats().text())
    except SQLAlchemyError as exc:
        return _database_error(exc)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """The question log since a date as CSV (user hashes only), to a file or stdout."""
    from sqlalchemy.exc import SQLAlchemyError

    records = _records(BotSettings.load())
    try:
        if args.out is None:
            count = records.export(sys.stdout, args.since)
        else:
            with open(args.out, "w", encoding="utf-8", newline="") as out:
                count = records.export(out, args.since)
    except SQLAlchemyError as exc:
        return _database_error(exc)
    print(f"{count} questions exported", file=sys.stderr)
    return 0


def cmd_forget(args: argparse.Namespace) -> int:
    """Delete one user's questions and votes, as /forget does for the user, and say how many."""
    from sqlalchemy.exc import SQLAlchemyError

    from .salt import SALT_FILE

    settings = BotSettings.load()
    if not settings.hash_salt and not (settings.cache_dir / SALT_FILE).is_file():
        raise SettingsError(
            f"no hash salt: neither DGBOT_HASH_SALT nor {settings.cache_dir / SALT_FILE} is set; "
            "run this where the bot runs (same DGBOT_CACHE_DIR), or no record could match"
        )
    user_id = args.user_id if args.user_id is not None else _user_id_from_stdin()
    try:
        forgotten = _records(settings).forget(user_id)
    except SQLAlchemyError as exc:
        return _database_error(exc)
    print(
        f"deleted {forgotten.questions} question(s) and {forgotten.votes} vote(s) or verdict(s) "
        f"of user {user_id}"
    )
    return 0


def _user_id_from_stdin() -> int:
    """The user id piped in (kept out of the process list and the shell history)."""
    text = sys.stdin.readline().strip()
    try:
        return int(text)
    except ValueError:
        raise SettingsError(
            f"forget: expected a Telegram user id on stdin, got {text[:20]!r}"
        ) from None


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a YYYY-MM-DD date: {text!r}") from exc


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
    stats = sub.add_parser("stats", help="the /stats figures from the question record")
    stats.set_defaults(func=cmd_stats)
    export = sub.add_parser("export", help="the question record as CSV for staff")
    export.add_argument("--since", type=_date, required=True, metavar="DATE", help="YYYY-MM-DD")
    export.add_argument("--out", metavar="FILE", help="write here instead of stdout")
    export.set_defaults(func=cmd_export)
    forget = sub.add_parser(
        "forget",
        help="delete a user's questions and votes from the record",
        description="delete everything the Telegram user USER_ID asked (with the votes on it) "
        "and every vote they gave; prints how many records were deleted",
    )
    forget.add_argument(
        "user_id",
        type=int,
        nargs="?",
        metavar="USER_ID",
        help="the Telegram user id (leave it out to read it from stdin)",
    )
    forget.set_defaults(func=cmd_forget)
    return run_command(parser, argv)


if __name__ == "__main__":
    sys.exit(main())
