"""Careful HTTP fetching for pages and feeds: bounded in time, size and redirects.

A URL given to ``qabot add`` or the bot's ``/add`` comes from a person, a feed entry from
someone else's server, so a fetch must never hang, fill memory, or reach the machine's
own network: only ``http``/``https``, a size cap read as a stream, a redirect cap, and
every address the host resolves to — after each redirect too — must be public unless
``QABOT_FETCH_ALLOW_PRIVATE=1``. (A host that re-resolves differently between the check
and the connection can still slip through; pin addresses in a proxy if that matters.)
"""

from __future__ import annotations

import codecs
import ipaddress
import re
import socket
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx

from .config import Settings
from .errors import SourceError

USER_AGENT = "qabot/0.1 (news article ingestion)"
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
TEXT_TYPES = frozenset({"text/plain", "text/markdown", "text/x-markdown"})
FEED_TYPES = frozenset(
    {
        "application/rss+xml",
        "application/atom+xml",
        "application/rdf+xml",
        "application/xml",
        "text/xml",
        "application/feed+json",
    }
)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)


@dataclass(frozen=True)
class Page:
    """A fetched response: the final URL after redirects, and the raw body."""

    url: str
    status: int
    content_type: str
    charset: str | None
    body: bytes
    etag: str | None = None
    last_modified: str | None = None

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    def text(self) -> str:
        return decode(self.body, self.charset)


def _codec(name: str | None) -> str | None:
    """The Python codec for a declared charset, or None when it is unknown."""
    if not name:
        return None
    try:
        return codecs.lookup(name.strip().strip("\"'")).name
    except LookupError:
        return None


def decode(body: bytes, declared: str | None = None) -> str:
    """Bytes to text: a BOM, the HTTP charset, the ``<meta>`` charset, then detection.

    Arabic sites still serve windows-1256 and ISO-8859-6; guessing those as Latin-1
    would turn every word into mojibake, so a declaration is trusted before detection.
    """
    for bom, name in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16")):
        if body.startswith(bom):
            return body.decode(name, errors="replace")
    if codec := _codec(declared):
        return body.decode(codec, errors="replace")
    match = _META_CHARSET.search(body[:8192])
    if match and (codec := _codec(match.group(1).decode("ascii"))):
        return body.decode(codec, errors="replace")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(body).best()
    return str(best) if best is not None else body.decode("utf-8", errors="replace")


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def check_url(url: str, allow_private: bool) -> None:
    """Refuse non-HTTP schemes and, unless allowed, hosts that resolve to private addresses."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise SourceError(f"only http and https addresses can be fetched, not {url!r}")
    if not parts.hostname:
        raise SourceError(f"{url!r} has no host name")
    if allow_private:
        return
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise SourceError(f"cannot resolve {parts.hostname}", transient=True) from exc
    for *_, sockaddr in infos:
        if not _is_public(str(sockaddr[0])):
            raise SourceError(
                f"{parts.hostname} is a private or local address ({sockaddr[0]}); refused",
                "set QABOT_FETCH_ALLOW_PRIVATE=1 to fetch from your own network",
            )


def _megabytes(n: int) -> str:
    return f"{n / 1_000_000:g} MB"


def fetch(
    url: str,
    settings: Settings,
    *,
    accept: frozenset[str] = HTML_TYPES | TEXT_TYPES,
    headers: dict[str, str] | None = None,
    client: httpx.Client | None = None,
) -> Page:
    """GET ``url`` within the settings' limits; raise `SourceError` with the reason."""
    own = client is None
    client = client or new_client(settings)
    deadline = time.monotonic() + settings.fetch_timeout
    try:
        for _ in range(settings.fetch_max_redirects + 1):
            check_url(url, settings.fetch_allow_private)
            page = _get(client, url, settings, accept, headers or {}, deadline)
            if isinstance(page, Page):
                return page
            url = page
        raise SourceError(f"too many redirects (more than {settings.fetch_max_redirects})")
    finally:
        if own:
            client.close()


def new_client(settings: Settings) -> httpx.Client:
    """A client that follows no redirect by itself, so each hop is checked here."""
    return httpx.Client(
        timeout=httpx.Timeout(settings.fetch_timeout),
        follow_redirects=False,
        trust_env=False,
        headers={"User-Agent": USER_AGENT},
    )


def _get(
    client: httpx.Client,
    url: str,
    settings: Settings,
    accept: frozenset[str],
    headers: dict[str, str],
    deadline: float,
) -> Page | str:
    """One request: the page, or the URL a redirect points to."""
    timeout = f"timed out after {settings.fetch_timeout:g} s"
    try:
        with client.stream("GET", url, headers=headers) as response:
            if response.is_redirect and "location" in response.headers:
                return urljoin(url, response.headers["location"])
            if response.status_code >= 400:
                raise SourceError(
                    f"HTTP {response.status_code} {response.reason_phrase}".strip(),
                    transient=response.status_code >= 500 or response.status_code == 429,
                )
            media, _, params = response.headers.get("content-type", "").partition(";")
            media = media.strip().lower()
            if response.status_code != 304 and media and media not in accept:
                raise SourceError(f"not a web page or text ({media})")
            length = response.headers.get("content-length", "")
            if length.isdigit() and int(length) > settings.fetch_max_bytes:
                raise SourceError(f"larger than {_megabytes(settings.fetch_max_bytes)}")
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > settings.fetch_max_bytes:
                    raise SourceError(f"larger than {_megabytes(settings.fetch_max_bytes)}")
                if time.monotonic() > deadline:
                    raise SourceError(timeout, transient=True)
            charset = re.search(r"charset\s*=\s*\"?([^\";\s]+)", params, re.I)
            return Page(
                url=str(response.url),
                status=response.status_code,
                content_type=media,
                charset=charset.group(1) if charset else None,
                body=bytes(body),
                etag=response.headers.get("etag"),
                last_modified=response.headers.get("last-modified"),
            )
    except httpx.TimeoutException as exc:
        raise SourceError(timeout, transient=True) from exc
    except httpx.HTTPError as exc:
        raise SourceError(f"cannot fetch: {exc}", transient=True) from exc
