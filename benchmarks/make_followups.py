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


# Written later (wave 3), before any tuning on them; their dev/test split (alternating within
# each group, as above) was fixed when they were written. The earlier pairs keep theirs, so
# no pair the first weights were chosen on is in the test split.
MORE_SEED_AR = [
    (
        "من هو وزير الخارجية الروسي الذي يلتقي الأمين العام؟",
        "وفي أي يوم يعقد الاجتماع؟",
        "seed-p01",
    ),
    (
        "ما المجالات التي سيبحثها الجانبان في التعاون الثنائي؟",
        "وما الوضع الذي سيوليانه اهتماما خاصا؟",
        "seed-p03",
    ),
    ("ما موقف دول المنظمة مما يحدث في أوكرانيا؟", "ومتى زار لافروف الرياض؟", "seed-p04"),
    ("من هو رمضان عبد اللطيبوف؟", "وماذا قال عن العالم الإسلامي؟", "seed-p07"),
    (
        "كيف تصف موسكو العلاقات بين روسيا ودول منظمة التعاون الإسلامي؟",
        "وعلى أي أساس تريد تطويرها؟",
        "seed-p11",
    ),
    ("من يرأس جمهورية تتارستان؟", "وما المجموعة التي يرأسها؟", "seed-p12"),
    ("متى استضافت قازان القمة الاقتصادية الدولية؟", "وما اسم القمة؟", "seed-p13"),
    ("ما عدد الدول الأعضاء في منظمة التعاون الإسلامي؟", "وكم عدد سكانها؟", "seed-p16"),
    ("أين يعقد لافروف اجتماعه مع الأمين العام؟", "وما الموضوع الرئيسي للمحادثات؟", "seed-p09"),
]
MORE_ARCD_AR = [
    ("في أي صحيفة كتب خاشقجي عمودا منذ عام 2017؟", "وما المنصب الذي تقلده فيها؟", "arcd-a000-p01"),
    ("متى غادر خاشقجي السعودية؟", "ومن انتقد في مقالاته؟", "arcd-a000-p02"),
    ("ما هي أكبر دولة في الشرق الأوسط؟", "وأين تقع في آسيا؟", "arcd-a001-p00"),
    ("ما الدول التي تحد السعودية من الشمال؟", "ومن الشرق؟", "arcd-a001-p01"),
    ("من أسس أول كيان في المملكة العربية السعودية؟", "وفي أي سنة أسسه؟", "arcd-a001-p02"),
    ("ما مساحة جمهورية مصر العربية؟", "وما طول حدودها مع ليبيا؟", "arcd-a002-p01"),
    ("أين يتركز معظم سكان مصر؟", "وما المدينة الأكثر سكانا فيها؟", "arcd-a002-p02"),
    ("منذ متى كان المغرب عضوا في الأمم المتحدة؟", "وفي جامعة الدول العربية؟", "arcd-a004-p01"),
    (
        "ما نسبة المشاركة في الانتخابات البرلمانية المغربية لعام 2011؟",
        "ومن فاز بها؟",
        "arcd-a004-p02",
    ),
    (
        "متى فتح العثمانيون القسطنطينية؟",
        "ومتى عبروا إلى أوروبا الشرقية أول مرة؟",
        "arcd-a005-p01",
    ),
    ("متى ضم العثمانيون الشام ومصر والحجاز؟", "وما القارات التي شملتها أراضيهم؟", "arcd-a005-p02"),
    ("أين تقع ولاية ألاسكا؟", "وأين تقع هاواي؟", "arcd-a006-p01"),
    (
        "ما مساحة الولايات المتحدة الأمريكية؟",
        "وكم كان ناتجها المحلي الإجمالي عام 2008؟",
        "arcd-a006-p02",
    ),
    (
        "كم عدد القتلى في الحرب العالمية الأولى؟",
        "ومتى انتشرت الإنفلونزا الإسبانية خلالها؟",
        "arcd-a007-p01",
    ),
    (
        "ما عدد قتلى الحرب العالمية الثانية؟",
        "وعلى أي مدينتين ألقيت القنبلتان الذريتان فيها؟",
        "arcd-a008-p01",
    ),
    (
        "كم مدينة استضافت مباريات كأس العالم 2018؟",
        "وأي مدينة احتضنت مباراة الافتتاح؟",
        "arcd-a009-p02",
    ),
    ("في أي عام توفي صلاح الدين الأيوبي؟", "وما اسم الدولة التي أسسها؟", "arcd-a010-p00"),
    (
        "في أي معركة هزم صلاح الدين جيش بيت المقدس؟",
        "وما الأراضي التي استعادها من الصليبيين؟",
        "arcd-a010-p01",
    ),
    ("ما الدولة التي تحد العراق من الشمال؟", "وما الدول التي تحده من الغرب؟", "arcd-a011-p01"),
    ("كم يبلغ عدد سكان العراق؟", "وما نسبة الأكراد منهم؟", "arcd-a011-p02"),
    ("من أي مدرسة حصل أينشتاين على دبلومه؟", "وفي أي عام حصل عليه؟", "arcd-a012-p02"),
    ("بأي اسم عرفت عمان قديما؟", "وكم موقعا للتراث العالمي فيها؟", "arcd-a013-p02"),
    ("في أي عام أعلن استقلال سوريا؟", "ومتى نالته فعلا؟", "arcd-a014-p02"),
    ("متى استقلت الهند؟", "ممن استعمرت؟", "arcd-a015-p01"),
    ("كم ولاية في الهند؟", "وما ترتيبها في الإنفاق العسكري؟", "arcd-a015-p02"),
    ("متى انسحبت إسرائيل من قطاع غزة؟", "وكم يقدر عدد سكانه مع الضفة؟", "arcd-a016-p01"),
    ("ما أول أغنية غنتها شيرين عبد الوهاب؟", "ومتى بدأت مشوارها الغنائي؟", "arcd-a018-p01"),
    ("متى ولدت شيرين عبد الوهاب؟", "ما مهنتها؟", "arcd-a018-p00"),
    ("ما عدد سكان الصين؟", "وما اسمها باللغة الصينية؟", "arcd-a019-p00"),
    ("ما ترتيب الصين من حيث المساحة؟", "وما طول ساحلها الشرقي؟", "arcd-a019-p02"),
    ("ما هي حرب أكتوبر؟", "وفي أي عام وقعت؟", "arcd-a021-p01"),
    ("لماذا سميت غزوة بدر بهذا الاسم؟", "ومن كان قائد قريش فيها؟", "arcd-a023-p01"),
    ("كم يبلغ عدد سكان اليابان؟", "وكم محافظة فيها؟", "arcd-a025-p02"),
    ("كم جزيرة في اليابان؟", "ومتى تحول نظام الحكم فيها إلى ملكي دستوري؟", "arcd-a025-p01"),
    (
        "كم كان عمر عمر المختار حين حارب الإيطاليين أول مرة؟",
        "وما الحكم الذي صدر بحقه؟",
        "arcd-a026-p02",
    ),
    ("من كان يسكن لبنان قديما؟", "وما المهنة التي مارسوها؟", "arcd-a027-p02"),
    ("إلى أي قبيلة ينتمي السلاجقة؟", "في أي عام دخلت الإسلام؟", "arcd-a028-p02"),
    (
        "ما الحزب الذي يرأسه رجب طيب أردوغان؟",
        "وما المنصب الذي شغله من 1994 إلى 1998؟",
        "arcd-a030-p01",
    ),
    ("لأي ناد لعب أردوغان كرة القدم؟", "وبماذا اتهم؟", "arcd-a030-p02"),
    ("ما الاسم الرسمي لسويسرا؟", "ومن كم كانتون يتكون؟", "arcd-a032-p00"),
    ("أين تقع سويسرا بالنسبة لأوروبا؟", "ما الدولة التي تحدها من الشمال؟", "arcd-a032-p01"),
]
MORE_EN = [
    ("Who is Lavrov meeting in Moscow?", "What will they discuss?", "seed-p02"),
    (
        "What was the original name of the Organisation of Islamic Cooperation?",
        "How many people live in its member states?",
        "seed-p16",
    ),
    ("Which city hosted the Kazan Summit 2022?", "When did it take place?", "seed-p13"),
    ("When did World War II begin?", "How many countries took part in it?", "arcd-a008-p00"),
    ("Where is Morocco located?", "What is its largest city?", "arcd-a004-p00"),
    ("Who founded the Ottoman Empire?", "How long did it last?", "arcd-a005-p00"),
    (
        "How many islands does Japan have?",
        "When did it become a constitutional monarchy?",
        "arcd-a025-p01",
    ),
    ("What is the capital of Iraq?", "How many governorates does it have?", "arcd-a011-p00"),
]
MORE_SWITCHES = [
    ("متى ولد عمر المختار؟", "كيف أتعلم العزف على العود؟", None),
    ("ما عدد سكان الصين؟", "ما أفضل هاتف ذكي هذا العام؟", None),
    ("كم ولاية في الهند؟", "ومتى يبدأ فصل الشتاء في كندا؟", None),
    ("من هو نجيب محفوظ؟", "وكم سعر الذهب اليوم؟", None),
    ("What is the capital of Iraq?", "What is the price of bitcoin today?", None),
    ("ما عدد سكان الصين؟", "في أي عام ولد ألبرت أينشتاين؟", "arcd-a012-p00"),
    ("متى ولدت شيرين عبد الوهاب؟", "ما الدولة التي تحد سويسرا من الشمال؟", "arcd-a032-p01"),
    ("من هو الأمين العام لمنظمة التعاون الإسلامي؟", "كم جزيرة في اليابان؟", "arcd-a025-p01"),
    ("متى ولد عمر المختار؟", "إلى أي قبيلة كان ينتمي عمر المختار؟", "arcd-a026-p01"),
    ("أين تقع الصين؟", "ما الحزب الذي يرأسه أردوغان؟", "arcd-a030-p01"),
    ("ما اللقب الذي منح لمدينة قازان؟", "ما هي عاصمة سوريا؟", "arcd-a014-p00"),
    ("Who is Naguib Mahfouz?", "Who founded the Ottoman Empire?", "arcd-a005-p00"),
]

# Written in wave 4 after an error analysis showed the set had few fragment follow-ups
# («ومن الغرب؟», «ووالدته؟», "What about the west?") and few complete questions that start
# with و; on ARCD articles no earlier pair used. Split fixed here before any run on them.
FRAG_AR = [
    ("ما الدول التي تحد إيران من الشمال؟", "ومن الغرب؟", "arcd-a033-p01"),
    ("ما الدول التي تحد إيران من الشرق؟", "وماذا عن الجنوب؟", "arcd-a033-p01"),
    ("في أي عام ولد ابن خلدون؟", "وأين دفن؟", "arcd-a036-p02"),
    ("ما العلم الذي يعتبر ابن خلدون مؤسسه؟", "وأين توفي؟", "arcd-a036-p02"),
    ("متى تولى محمد علي باشا حكم مصر؟", "ومن كان سلفه؟", "arcd-a039-p01"),
    ("من هو مؤسس مصر الحديثة؟", "ومتى سقطت دولته؟", "arcd-a039-p02"),
    ("ما اسم أول ألبوم منفرد لتامر حسني؟", "وفي أي عام صدر؟", "arcd-a035-p00"),
    ("من والد تامر حسني؟", "ووالدته؟", "arcd-a035-p01"),
    ("بماذا اتهم تامر حسني عام 2006؟", "وبماذا حكم عليه؟", "arcd-a035-p02"),
    ("لماذا سمي سليمان القانوني بهذا الاسم؟", "وبأي اسم عرف عند الغرب؟", "arcd-a034-p02"),
    ("أين توقف سليمان القانوني في حملاته على أوروبا؟", "وفي أي عام؟", "arcd-a034-p02"),
    ("ما أكبر مدينة في إيران؟", "وما هي عاصمتها؟", "arcd-a033-p01"),
    ("ما ثاني أكبر احتياطي تملكه إيران في العالم؟", "وفي النفط؟", "arcd-a033-p01"),
    ("على أي بحر تطل إيران؟", "وفي الجنوب؟", "arcd-a033-p01"),
]
FRAG_EN = [
    ("Who was Tamer Hosny's father?", "And his mother?", "arcd-a035-p01"),
    ("Which countries border Iran to the north?", "What about the west?", "arcd-a033-p01"),
]
FRAG_SWITCHES = [
    ("من هو والد تامر حسني؟", "وما عاصمة إيران؟", "arcd-a033-p01"),
    ("متى ولد ابن خلدون؟", "وهل تنصح بشراء سيارة كهربائية؟", None),
    ("ما الدول التي تحد إيران من الشمال؟", "ومن هو مؤسس مصر الحديثة؟", "arcd-a039-p00"),
    ("What is diabetes?", "And who founded modern Egypt?", "arcd-a039-p00"),
]

# Written in wave 5, before anything was run on them (split: alternating, as above): complete
# questions with a false dependence cue (a resumptive pronoun whose clause names its subject,
# "And" before a complete English question), and follow-ups whose pronoun does point back.
CUE_AR = [
    ("لأي ناد لعب أردوغان كرة القدم؟", "ما الحزب الذي انتخبه عمدة لإسطنبول؟", "arcd-a030-p02"),
    ("من هو تامر حسني؟", "ما القضية التي اتهم فيها عام 2006؟", "arcd-a035-p02"),
    ("أين ولد ابن خلدون؟", "ما العلم الذي يعتبر مؤسسه؟", "arcd-a036-p02"),
    ("ما اللقب الذي عرف به سليمان في الشرق؟", "وما الحصار الذي توقف عنده؟", "arcd-a034-p02"),
    ("من هو ابن خلدون؟", "ما عمره حين توفي؟", "arcd-a036-p02"),
    ("ما القبيلة التي ينتمي إليها السلاجقة؟", "ومتى دخلت الإسلام؟", "arcd-a028-p02"),
    ("ما اسم والد تامر حسني؟", "ما الكلية التي التحق بها؟", "arcd-a035-p01"),
]
CUE_EN = [
    ("Who was Tamer Hosny's father?", "And what did he study at university?", "arcd-a035-p01"),
    ("When did Muhammad Ali Pasha rule Egypt?", "And when did his dynasty fall?", "arcd-a039-p02"),
    ("What is the largest city in Iran?", "And the capital?", "arcd-a033-p01"),
    (
        "Where did Erdogan play football?",
        "Which party elected him mayor of Istanbul?",
        "arcd-a030-p02",
    ),
    ("Where did Ibn Khaldun die?", "And in which year?", "arcd-a036-p02"),
]
CUE_SWITCHES = [
    ("متى بدأت الحرب العالمية الثانية؟", "ما الجائزة التي نالها نجيب محفوظ؟", "arcd-a022-p00"),
    ("أين تقع سويسرا؟", "ما الدولة التي حكمها محمد علي باشا؟", "arcd-a039-p00"),
    ("ما عاصمة العراق؟", "ما الأسرة التي أسسها محمد علي باشا؟", "arcd-a039-p00"),
    ("من والد تامر حسني؟", "ما القبيلة التي ينتمي إليها السلاجقة؟", "arcd-a028-p02"),
    (
        "What is the capital of Iraq?",
        "And who heads the Justice and Development Party?",
        "arcd-a030-p01",
    ),
    ("Where is China located?", "And when was Tamer Hosny born?", "arcd-a035-p00"),
    ("كم عدد سكان اليابان؟", "ما الحصار الذي توقف عنده سليمان القانوني؟", "arcd-a034-p02"),
    ("ما هو التقويم الميلادي؟", "ما المنصب الذي شغله أردوغان من 2003 إلى 2014؟", "arcd-a030-p01"),
    (
        "Who is Jamal Khashoggi?",
        "And which country borders Switzerland to the north?",
        "arcd-a032-p01",
    ),
    ("Who was Omar Mukhtar?", "And where was Ibn Khaldun buried?", "arcd-a036-p02"),
]


def seed_paragraphs() -> list[dict[str, str]]:
    """The seed article's body paragraphs, numbered as qabot's chunker numbers them."""
    from qabot.articles import parse_article
    from qabot.chunking import chunk_article

    chunks = chunk_article(parse_article(SEED), max_tokens=10_000)
    return [{"id": f"seed-p{c.paragraph:02d}", "text": c.text} for c in chunks]


def main() -> int:
    arcd = json.loads(Path(sys.argv[1] if len(sys.argv) > 1 else ARCD).read_text("utf-8"))
    groups = {
        "seed-ar": SEED_AR,
        "seed-en": SEED_EN,
        "arcd-ar": ARCD_AR,
        "arcd-en": ARCD_EN,
        "switch": SWITCHES,
        "more-seed-ar": MORE_SEED_AR,
        "more-arcd-ar": MORE_ARCD_AR,
        "more-en": MORE_EN,
        "more-switch": MORE_SWITCHES,
        "frag-ar": FRAG_AR,
        "frag-en": FRAG_EN,
        "frag-switch": FRAG_SWITCHES,
        "cue-ar": CUE_AR,
        "cue-en": CUE_EN,
        "cue-switch": CUE_SWITCHES,
    }
    pairs = []
    for group, rows in groups.items():
        for i, (earlier, question, gold) in enumerate(rows):
            pairs.append(
                {
                    "id": f"{group}-{i:02d}",
                    "history": [earlier],
                    "question": question,
                    "paragraph_id": gold,
                    "kind": "switch" if group.endswith("switch") else "followup",
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
