"""The Telegram bot: handlers, their wiring and `run_bot`, the Bot API transport."""

from .app import build_application, run_bot

__all__ = ["build_application", "run_bot"]
