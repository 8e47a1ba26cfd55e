"""Webhook mode: Telegram POSTs updates to a public URL, so several replicas can sit behind
a load balancer (each answers from the shared database; README) where polling
allows one bot process per token.

python-telegram-bot's webhook server rejects (403) any request without the
``X-Telegram-Bot-Api-Secret-Token`` header Telegram sends with ``QABOT_WEBHOOK_SECRET``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from telegram.ext import Application

from ..config import Settings
from ..errors import QabotError


def serve(application: Application[Any, Any, Any, Any, Any, Any], settings: Settings) -> None:
    """Run until SIGINT/SIGTERM: on ``settings.webhook_url`` if set, else by polling."""
    allowed = list(application.bot_data.update_types)
    if not settings.webhook_url:
        application.run_polling(allowed_updates=allowed, bootstrap_retries=-1)
        return
    if not settings.webhook_secret:
        raise QabotError(
            "webhook mode needs QABOT_WEBHOOK_SECRET (1-256 of A-Z a-z 0-9 _ -)",
            "without it anyone who finds the URL could post fake updates",
        )
    application.run_webhook(
        listen=settings.webhook_listen,
        port=settings.webhook_port,
        url_path=urlparse(settings.webhook_url).path.lstrip("/"),
        webhook_url=settings.webhook_url,
        secret_token=settings.webhook_secret,
        allowed_updates=allowed,
        bootstrap_retries=-1,
    )
