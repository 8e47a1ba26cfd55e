"""A small Arabic news site on 127.0.0.1 for the ingestion tests.

Pages are written for the tests: real-looking markup (navigation, sidebars, a cookie
banner, a footer) around an article, ``og:``/``article:`` metadata, a page in
windows-1256 declared only in ``<meta>``, one in ISO-8859-6 declared only in the HTTP
header, RSS and Atom feeds, and the failures a fetcher meets: a 404, a slow page, a huge
page, a redirect loop, a PDF, a section front and a login page.
"""

from __future__ import annotations

import contextlib
import html
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from qabot.config import Settings

SITE = "أخبار الواحة"

DESALINATION = {
    "title": "افتتاح محطة لتحلية مياه البحر في مدينة العقبة",
    "author": "سارة الخطيب",
    "published": "2026-11-20T09:30:00+03:00",
    "paragraphs": [
        "افتتحت وزارة المياه اليوم الجمعة محطة جديدة لتحلية مياه البحر جنوب مدينة العقبة، "
        "بعد ثلاث سنوات من أعمال البناء التي شارك فيها أكثر من ألف عامل ومهندس.",
        "وقال وزير المياه في كلمة خلال حفل الافتتاح إن الطاقة الإنتاجية للمحطة تبلغ "
        "مئة وخمسين ألف متر مكعب من المياه العذبة يوميا، وهو ما يكفي لتزويد نحو "
        "نصف مليون نسمة بمياه الشرب.",
        "وتعتمد المحطة على تقنية التناضح العكسي، وتستمد ثلث حاجتها من الكهرباء من "
        "حقل للطاقة الشمسية أقيم بجوارها على مساحة أربعين هكتارا.",
        "وبلغت كلفة المشروع أربعمئة مليون دولار، موّلها تحالف من البنوك المحلية "
        "والصناديق العربية للتنمية، على أن تنقل المياه عبر خط أنابيب إلى العاصمة.",
        "وأكد الوزير أن الوزارة تدرس إنشاء محطة ثانية على ساحل البحر الأحمر خلال "
        "السنوات الخمس المقبلة لمواجهة تزايد الطلب على المياه.",
    ],
}

OLIVES = {
    "title": "مهرجان الزيتون في جرش يستقبل آلاف الزوار",
    "author": "خالد العمري",
    "published": "2026-11-02",
    "paragraphs": [
        "استقبل مهرجان الزيتون السنوي في مدينة جرش أكثر من عشرين ألف زائر في يومه "
        "الأول، وسط مشاركة واسعة من المزارعين والجمعيات التعاونية.",
        "وعرض المشاركون زيت الزيتون البكر والصابون البلدي والمخللات، إلى جانب "
        "منتجات الحرف اليدوية التي تصنعها نساء القرى المجاورة.",
        "وقالت إدارة المهرجان إن موسم القطاف هذا العام جاء أفضل من العام الماضي "
        "بفضل الأمطار الغزيرة التي هطلت في الربيع.",
    ],
}

LIBRARY = {
    "title": "مكتبة الحي القديم تعيد فتح أبوابها بعد الترميم",
    "author": "ليلى حداد",
    "published": "2026-10-15",
    "paragraphs": [
        "أعادت مكتبة الحي القديم فتح أبوابها أمام القراء بعد عامين من أعمال الترميم "
        "التي شملت السقف الخشبي وقاعة المخطوطات.",
        "وتضم المكتبة اليوم أكثر من ثلاثين ألف كتاب، بينها مجموعة نادرة من المخطوطات "
        "العربية التي يعود أقدمها إلى القرن الثاني عشر.",
        "وخصصت إدارة المكتبة قاعة جديدة للأطفال تقام فيها جلسات قراءة أسبوعية كل يوم سبت.",
    ],
}

FEED_STORY = {
    "title": "إطلاق خدمة الحافلات الكهربائية بين المطار ووسط المدينة",
    "author": "عمر ناصر",
    "published": "2026-11-25",
    "paragraphs": [
        "بدأت هيئة النقل العام تشغيل خط جديد للحافلات الكهربائية يربط المطار الدولي "
        "بوسط المدينة، بمعدل رحلة كل عشرين دقيقة على مدار الساعة.",
        "وقالت الهيئة إن أسطول الخط يضم ثلاثين حافلة تعمل بالبطاريات، تشحن ليلا في "
        "محطة مخصصة قرب المطار.",
        "وتبلغ أجرة الرحلة دينارا واحدا، ويمكن الدفع بالبطاقات المصرفية مباشرة عند "
        "الصعود إلى الحافلة.",
    ],
}


def _chrome(title: str, body: str, head: str = "", charset_meta: str = "") -> str:
    """A page with the boilerplate a real news site puts around its content."""
    return f"""<!DOCTYPE html>
<html lang="ar" dir="rtl"><head>{charset_meta}
<title>{html.escape(title)} | {SITE}</title>{head}
</head><body>
<div class="cookie-banner">نستخدم ملفات تعريف الارتباط لتحسين تجربتك.
<a href="/privacy">اعرف المزيد</a></div>
<header><a class="logo" href="/">{SITE}</a>
<nav><ul><li><a href="/section/politics">سياسة</a></li>
<li><a href="/section/economy">اقتصاد</a></li>
<li><a href="/section/sport">رياضة</a></li>
<li><a href="/login">تسجيل الدخول</a></li></ul></nav></header>
<main>{body}</main>
<aside class="sidebar"><h3>الأكثر قراءة</h3><ul>
<li><a href="/news/1">ارتفاع أسعار الذهب في الأسواق المحلية</a></li>
<li><a href="/news/2">المنتخب يتأهل إلى الدور النهائي</a></li>
<li><a href="/news/3">توقعات بطقس مستقر خلال عطلة نهاية الأسبوع</a></li></ul></aside>
<footer><p>جميع الحقوق محفوظة © 2026 {SITE}</p>
<a href="/about">من نحن</a> <a href="/contact">اتصل بنا</a></footer>
</body></html>"""


def article_page(story: dict, url: str, *, charset_meta: str = "", og: bool = True) -> str:
    """An article page; ``og`` adds Open Graph and ``article:`` metadata."""
    head = f'\n<link rel="canonical" href="{url}">'
    if og:
        head += (
            f'\n<meta property="og:title" content="{html.escape(story["title"])}">'
            f'\n<meta property="og:site_name" content="{SITE}">'
            f'\n<meta property="og:url" content="{url}">'
            '\n<meta property="og:type" content="article">'
            f'\n<meta property="article:published_time" content="{story["published"]}">'
            f'\n<meta name="author" content="{html.escape(story["author"])}">'
        )
    paragraphs = "\n".join(f"<p>{html.escape(p)}</p>" for p in story["paragraphs"])
    body = f"""<article>
<h1>{html.escape(story["title"])}</h1>
<div class="byline">بقلم {html.escape(story["author"])} —
<time datetime="{story["published"]}">{story["published"][:10]}</time></div>
<figure><img src="/img/photo.jpg" alt=""><figcaption>صورة من الموقع</figcaption></figure>
{paragraphs}
<div class="share">شارك المقال: <a href="#">فيسبوك</a> <a href="#">تويتر</a></div>
</article>"""
    return _chrome(story["title"], body, head, charset_meta)


def section_page() -> str:
    items = "\n".join(f'<li><a href="/news/{i}">عنوان خبر رقم {i}</a></li>' for i in range(1, 30))
    return _chrome("قسم الاقتصاد", f"<h1>اقتصاد</h1><ul class='headlines'>{items}</ul>")


def login_page() -> str:
    form = """<h1>تسجيل الدخول</h1><form method="post" action="/login">
<label>البريد الإلكتروني <input name="email"></label>
<label>كلمة المرور <input name="password" type="password"></label>
<button>دخول</button></form><a href="/register">إنشاء حساب جديد</a>"""
    return _chrome("تسجيل الدخول", form)


def rss_feed(base: str) -> str:
    items = f"""<item><title>{DESALINATION["title"]}</title>
<link>{base}/news/desalination.html</link><guid>{base}/news/desalination.html</guid>
<pubDate>Fri, 20 Nov 2026 06:30:00 GMT</pubDate><description>محطة جديدة للتحلية</description></item>
<item><title>{FEED_STORY["title"]}</title>
<link>{base}/news/buses.html</link><guid>buses-2026-11-25</guid>
<pubDate>Wed, 25 Nov 2026 08:00:00 GMT</pubDate><description>خط جديد للحافلات</description></item>
<item><title>خبر حذف من الموقع</title><link>{base}/missing</link><guid>gone-1</guid></item>"""
    return f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>{SITE}</title><link>{base}/</link>
<description>آخر الأخبار</description>{items}</channel></rss>"""


def atom_feed(base: str) -> str:
    content = "".join(f"&lt;p&gt;{p}&lt;/p&gt;" for p in LIBRARY["paragraphs"])
    return f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>{SITE} — ثقافة</title>
<id>{base}/atom</id><updated>2026-11-26T10:00:00Z</updated>
<entry><title>{OLIVES["title"]}</title><id>urn:olives</id>
<link href="{base}/news/olives.html"/><updated>2026-11-02T10:00:00Z</updated>
<author><name>{OLIVES["author"]}</name></author></entry>
<entry><title>{LIBRARY["title"]}</title><id>urn:library-feed</id>
<link href="{base}/nowhere/library"/><updated>2026-10-15T10:00:00Z</updated>
<author><name>{LIBRARY["author"]}</name></author>
<content type="html">{content}</content></entry>
</feed>"""


@dataclass
class Site:
    """The running site: its base URL and the request headers it saw, per path."""

    base: str
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def url(self, path: str) -> str:
        return self.base + path

    def seen(self, path: str) -> list[dict[str, str]]:
        return [headers for p, headers in self.requests if p == path]


def _routes(base: str) -> dict[str, tuple[int, dict[str, str], bytes]]:
    html_utf8 = {"Content-Type": "text/html; charset=utf-8"}
    des = base + "/news/desalination.html"
    olives = article_page(
        OLIVES,
        base + "/news/olives.html",
        charset_meta='<meta http-equiv="Content-Type" content="text/html; charset=windows-1256">',
    )
    library = article_page(LIBRARY, base + "/news/library.html", og=False)
    return {
        "/news/desalination.html": (200, html_utf8, article_page(DESALINATION, des).encode()),
        "/news/olives.html": (
            200,
            {"Content-Type": "text/html"},
            olives.encode("cp1256", errors="xmlcharrefreplace"),
        ),
        "/news/library.html": (
            200,
            {"Content-Type": "text/html; charset=ISO-8859-6"},
            library.encode("iso-8859-6", errors="xmlcharrefreplace"),
        ),
        "/news/buses.html": (
            200,
            html_utf8,
            article_page(FEED_STORY, base + "/news/buses.html").encode(),
        ),
        "/story.txt": (
            200,
            {"Content-Type": "text/plain; charset=utf-8"},
            "\n".join(DESALINATION["paragraphs"]).encode(),
        ),
        "/section/economy": (200, html_utf8, section_page().encode()),
        "/login": (200, html_utf8, login_page().encode()),
        "/report.pdf": (200, {"Content-Type": "application/pdf"}, b"%PDF-1.7\n" + b"\x00" * 500),
        "/loop": (302, {"Location": "/loop2"}, b""),
        "/loop2": (302, {"Location": "/loop"}, b""),
        "/moved": (301, {"Location": "/news/desalination.html?utm_source=moved"}, b""),
        "/feed.rss": (
            200,
            {"Content-Type": "application/rss+xml; charset=utf-8", "ETag": '"rss-v1"'},
            rss_feed(base).encode(),
        ),
        "/slow-feed.rss": (
            200,
            {"Content-Type": "application/rss+xml; charset=utf-8"},
            f"""<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>
<title>{SITE}</title><item><title>خبر بطيء</title><link>{base}/slow</link>
<guid>slow-1</guid></item></channel></rss>""".encode(),
        ),
        "/feed.atom": (
            200,
            {
                "Content-Type": "application/atom+xml",
                "Last-Modified": "Thu, 26 Nov 2026 10:00:00 GMT",
            },
            atom_feed(base).encode(),
        ),
    }


@contextmanager
def serve(slow_seconds: float = 3.0, huge_bytes: int = 8_000_000) -> Iterator[Site]:
    """Run the site on an ephemeral 127.0.0.1 port for the duration of the block."""
    site = Site(base="")
    routes: dict[str, tuple[int, dict[str, str], bytes]] = {}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            path = self.path.split("?")[0]
            site.requests.append((path, dict(self.headers.items())))
            if path == "/slow":
                time.sleep(slow_seconds)
            if path == "/huge":
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                chunk = ("<p>" + "كلمة " * 2000 + "</p>\n").encode()
                sent = 0
                try:
                    while sent < huge_bytes:
                        self.wfile.write(chunk)
                        sent += len(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                return
            status, headers, body = routes.get(path, (404, {"Content-Type": "text/html"}, b""))
            if path == "/slow":
                status, headers, body = routes["/news/desalination.html"]
            etag = headers.get("ETag")
            modified = headers.get("Last-Modified")
            if (etag and self.headers.get("If-None-Match") == etag) or (
                modified and self.headers.get("If-Modified-Since") == modified
            ):
                status, body = 304, b""
            if status == 404:
                body = "<html><body><h1>الصفحة غير موجودة</h1></body></html>".encode()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # client gone
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    site.base = f"http://127.0.0.1:{server.server_address[1]}"
    routes.update(_routes(site.base))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()


def site_settings(root: Path, **overrides: Any) -> Settings:
    """Settings for a corpus and index under ``root`` that may fetch from this site."""
    return Settings(
        articles_dir=root / "articles",
        index_dir=root / "index",
        fetch_allow_private=True,
        fetch_timeout=1.0,
        **overrides,
    )
