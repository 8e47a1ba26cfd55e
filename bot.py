"""Start the Telegram bot: ``TELEGRAM_BOT_TOKEN=... python bot.py`` (same as ``qabot bot``)."""

import sys

from qabot.cli import main

if __name__ == "__main__":
    sys.exit(main(["bot", *sys.argv[1:]]))
