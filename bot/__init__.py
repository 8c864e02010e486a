"""dgbot on Telegram: citizens ask in Thai, the ``index`` engine answers with its sources.

``bot.app.build_application`` assembles the bot; ``bot.cli`` adds ``dgbot serve``.
"""
