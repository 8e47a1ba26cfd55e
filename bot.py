"""Start the Telegram bot: ``TELEGRAM_BOT_TOKEN=... python bot.py``."""

import sys

from qabot.config import Settings
from qabot.telegram_bot import run_bot

if __name__ == "__main__":
    sys.exit(run_bot(Settings()))
