"""Write benchmarks/data/followups.json: hand-written follow-up and topic-switch pairs.

The pairs are below; the paragraphs come from the seed article and from ARCD
(arcd.retrieval.json, whose first question of a paragraph is kept and whose second is
rewritten as a follow-up of it). Every ARCD article a pair names is included, with the
first 40 ARCD articles as distractors. Pairs alternate dev/test within each group: the
thresholds of qabot.conversation were chosen on "dev" only (benchmarks/followups.py).

    python benchmarks/make_followups.py [/work/shared/data/arcd/arcd.retrieval.json]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "articles" / "000_b3e058f4b2c0909a.txt"
OUT = ROOT / "benchmarks" / "data" / "followups.json"
ARCD = Path("/work/shared/data/arcd/arcd.retrieval.json")

# (earlier question, follow-up, gold paragraph): seed paragraphs are "seed-pNN".
SEED_AR = [
    ("من هو الأمين العام لمنظمة التعاون الإسلامي؟", "ومتى تنتهي زيارته إلى موسكو؟", "seed-p01"),
    ("مع من يجتمع لافروف في موسكو؟", "وما المجالات التي سيبحثانها؟", "seed-p02"),
    ("من هو ممثل روسيا الدائم لدى منظمة التعاون الإسلامي؟", "ومتى صرّح لوكالة تاس؟", "seed-p05"),
    (
        "من هو ممثل روسيا الدائم لدى منظمة التعاون الإسلامي؟",
        "وما الخبرة التي قال إن الدول الإسلامية تملكها؟",
        "seed-p06",
    ),
    ("متى تأسست منظمة التعاون الإسلامي؟", "وكم عدد الدول الأعضاء فيها؟", "seed-p16"),
    ("متى تأسست منظمة التعاون الإسلامي؟", "وما كان اسمها عند التأسيس؟", "seed-p16"),
    (
        "من يرأس مجموعة الرؤية الاستراتيجية روسيا - العالم الإسلامي؟",
        "وما الدور الذي أسند إليها؟",
        "seed-p12",
    ),
    ("متى عقدت قمة قازان 2022؟", "وما ترتيبها بين القمم الاقتصادية؟", "seed-p13"),
    ("ما اللقب الذي منح لمدينة قازان؟", "وما الأحداث التي نظمت فيها للشباب؟", "seed-p15"),
    (
        "ما هي القضية التي تمثل أولوية لمنظمة التعاون الإسلامي؟",
        "وما النزاعات الأخرى التي سيناقشها الطرفان؟",
        "seed-p08",
    ),
    ("ماذا سيناقش لافروف وطه؟", "وعلى أي اقتصادات سيركزان؟", "seed-p03"),
    (
        "ما موقف دول منظمة التعاون الإسلامي من الأحداث في أوكرانيا؟",
        "وأين قال لافروف ذلك؟",
        "seed-p04",
    ),
    ("كم عدد سكان الدول الأعضاء في منظمة التعاون الإسلامي؟", "ومتى تأسست؟", "seed-p16"),
    ("ما هي عاصمة جمهورية تتارستان؟", "ومن يرأسها؟", "seed-p12"),
]
SEED_EN = [
    ("Who is the Secretary General of the OIC?", "When does his visit to Moscow end?", "seed-p01"),
    (
        "When was the Organisation of Islamic Cooperation founded?",
        "And how many members does it have?",
        "seed-p16",
    ),
    (
        "Who is Russia's permanent representative to the OIC?",
        "What did he say Western opponents are doing?",
        "seed-p05",
    ),
    ("When was the Kazan summit held?", "What title was the city given?", "seed-p14"),
    (
        "Who heads the strategic vision group Russia - Islamic World?",
        "What is his position in Tatarstan?",
        "seed-p12",
    ),
]
ARCD_AR = [
    ("من هو جمال أحمد حمزة خاشقجي؟", "ومتى ولد وتوفي؟", "arcd-a000-p00"),
    ("أين يقع المغرب؟", "وما هي عاصمته؟", "arcd-a004-p00"),
    ("من اسس الدولة العثمانية؟", "ومتى أسسها؟", "arcd-a005-p00"),
    (
        "ما هو عدد الولايات في الولايات المتحدة الأمريكية؟",
        "وما ترجمة اسمها بالإنجليزية؟",
        "arcd-a006-p00",
    ),
    ("متى نشبت الحرب العالمية الأولى؟", "ومتى انتهت؟", "arcd-a007-p00"),
    ("متى بدأت الحرب العالمية الثانية؟", "ومتى انتهت؟", "arcd-a008-p00"),
    ("أين أقيم كأس العالم 2018؟", "ومتى أقيم؟", "arcd-a009-p00"),
    ("ماهي عاصمة العراق؟", "وعلى ماذا تطل؟", "arcd-a011-p00"),
    ("في أي عام ولد ألبرت أينشتاين؟", "وفي أي عام توفي؟", "arcd-a012-p00"),
    ("كم تبلغ المساحة الإجمالية لعمان؟", "وأين تقع بالنسبة لآسيا؟", "arcd-a013-p00"),
    ("ماهي عاصمة سوريا؟", "وما الدولة التي تحدها شمالاً؟", "arcd-a014-p00"),
    ("اين تقع جمهورية الهند؟", "وما ترتيبها من حيث المساحة؟", "arcd-a015-p00"),
    ("متى ولدت شيرين عبد الوهاب؟", "وما جنسيتها؟", "arcd-a018-p00"),
    ("متى تزوجت شيرين؟", "وممن تزوجت؟", "arcd-a018-p02"),
    ("اين تقع الصين؟", "وكم مقاطعة فيها؟", "arcd-a019-p01"),
    ("من هو نجيب محفوظ؟", "وفي أي عام ولد؟", "arcd-a022-p00"),
    ("ما هي الجائزة التى حصل عليها نجيب محفوظ؟", "ومتى بدأ الكتابة؟", "arcd-a022-p01"),
    ("ماذا تسمى غزوة بدر أيضا؟", "ومتى وقعت؟", "arcd-a023-p00"),
    ("كيف تعرف حرب أكتوبر في مصر؟", "وكيف تعرف في سوريا؟", "arcd-a021-p00"),
    (
        "ما المراحل العمرية التي يستطيع السرطان إصابتها؟",
        "ومتى تزيد نسبة الإصابة به؟",
        "arcd-a017-p02",
    ),
    ("من أسس الدولة العثمانية؟", "فمتى قامت؟", "arcd-a005-p00"),
]
ARCD_EN = [
    ("When did World War I break out?", "And when did it end?", "arcd-a007-p00"),
    ("Who is Naguib Mahfouz?", "In which year was he born?", "arcd-a022-p00"),
    ("What is the capital of Syria?", "Which country borders it to the north?", "arcd-a014-p00"),
]
# Topic switches: a complete question (gold paragraph) or an off-topic one (None, refused).
SWITCHES = [
    ("من هو الأمين العام لمنظمة التعاون الإسلامي؟", "ما هي عاصمة فرنسا؟", None),
    ("متى تأسست منظمة التعاون الإسلامي؟", "كيف أحضّر الكبسة باللحم؟", None),
    ("Who is Lavrov meeting in Moscow?", "How do I bake sourdough bread?", None),
    ("ما اللقب الذي منح لمدينة قازان؟", "هل ستمطر غدا في القاهرة؟", None),
    ("أين يقع المغرب؟", "كم هدفا سجل ميسي في الموسم الماضي؟", None),
    ("متى ولدت شيرين عبد الوهاب؟", "ما هي وصفة الكنافة النابلسية؟", None),
    ("من هو نجيب محفوظ؟", "كيف أعالج الصداع النصفي؟", None),
    ("مع من يجتمع لافروف في موسكو؟", "وما هي عاصمة فرنسا؟", None),
    (
        "من هو الأمين العام لمنظمة التعاون الإسلامي؟",
        "متى بدأت الحرب العالمية الثانية؟",
        "arcd-a008-p00",
    ),
    ("متى تأسست منظمة التعاون الإسلامي؟", "ماهي عاصمة العراق؟", "arcd-a011-p00"),
    ("أين يقع المغرب؟", "من هو ممثل روسيا الدائم لدى منظمة التعاون الإسلامي؟", "seed-p05"),
    ("من هو نجيب محفوظ؟", "متى تأسست منظمة التعاون الإسلامي؟", "seed-p16"),
    ("متى نشبت الحرب العالمية الأولى؟", "متى عقدت قمة قازان 2022؟", "seed-p13"),
    (
        "When was the Organisation of Islamic Cooperation founded?",
        "Where is India located?",
        "arcd-a015-p00",
    ),
    ("ماهي عاصمة سوريا؟", "ما اللقب الذي منح لمدينة قازان؟", "seed-p14"),
    ("من اسس الدولة العثمانية؟", "اين تقع الصين؟", "arcd-a019-p01"),
    (
        "Who is the Secretary General of the OIC?",
        "What is the best recipe for chocolate cake?",
        None,
    ),
    (
        "متى بدأت الحرب العالمية الثانية؟",
        "من هو ممثل روسيا الدائم لدى منظمة التعاون الإسلامي؟",
        "seed-p05",
    ),
]


def seed_paragraphs() -> list[dict[str, str]]:
    """The seed article's body paragraphs, numbered as qabot's chunker numbers them."""
    from qabot.articles import parse_article
    from qabot.chunking import chunk_article

    chunks = chunk_article(parse_article(SEED), max_tokens=10_000)
    return [{"id": f"seed-p{c.paragraph:02d}", "text": c.text} for c in chunks]


def main() -> int:
    arcd = json.loads(Path(sys.argv[1] if len(sys.argv) > 1 else ARCD).read_text("utf-8"))
    groups = {"seed-ar": SEED_AR, "seed-en": SEED_EN, "arcd-ar": ARCD_AR, "arcd-en": ARCD_EN}
    pairs = []
    for group, rows in [*groups.items(), ("switch", SWITCHES)]:
        for i, (earlier, question, gold) in enumerate(rows):
            pairs.append(
                {
                    "id": f"{group}-{i:02d}",
                    "history": [earlier],
                    "question": question,
                    "paragraph_id": gold,
                    "kind": "switch" if group == "switch" else "followup",
                    "split": "dev" if i % 2 == 0 else "test",
                }
            )
    named = {p["paragraph_id"].rsplit("-p", 1)[0] for p in pairs if p["paragraph_id"]}
    articles = [
        {"title": a.get("title"), "paragraphs": a["paragraphs"]}
        for n, a in enumerate(arcd["articles"])
        if n < 40 or a["paragraphs"][0]["id"].rsplit("-p", 1)[0] in named
    ]
    seed_title = "لافروف يبحث مع الأمين العام لمنظمة التعاون الإسلامي"
    articles.insert(0, {"title": seed_title, "paragraphs": seed_paragraphs()})
    data = {
        "name": "followups",
        "note": "Hand-written follow-ups (seed article and ARCD, CC BY 4.0 / MIT as ARCD is).",
        "articles": articles,
        "pairs": pairs,
    }
    OUT.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", "utf-8")
    print(f"{OUT}: {len(pairs)} pairs, {len(articles)} articles")
    return 0


if __name__ == "__main__":
    sys.exit(main())
