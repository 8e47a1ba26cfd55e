"""Arabic text keys for lexical matching.

Arabic spelling varies in ways readers ignore (hamza seats, taa marbuta vs. haa, alef
maqsura vs. yaa, optional diacritics, tatweel, two digit alphabets), so exact string
matching misses most real matches. Everything here derives *keys* for matching; the
display text shown to users is never altered, except by :func:`sanitize`, which only
removes invisible characters that could garble an echoed message.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Sequence
from functools import lru_cache

import Stemmer

from .sentences import split_sentences

ANALYSIS_VERSION = 4  # bump when terms(), index_keys() or the BM25 parameters change
"""Bump whenever :func:`terms` changes output: stored lexical indexes must be rebuilt."""

__all__ = [
    "ANALYSIS_VERSION",
    "INVISIBLE",
    "index_keys",
    "is_arabic_token",
    "STOPWORDS",
    "is_mostly_arabic",
    "normalize",
    "sanitize",
    "split_sentences",
    "stem",
    "term_groups",
    "terms",
    "token_keys",
    "tokens_keys",
    "tokenize",
]

# --------------------------------------------------------------------------- normalisation


def _char_range(first: int, last: int) -> list[int]:
    return list(range(first, last + 1))


#: Invisible characters pasted from web pages and phones inside words: soft hyphen,
#: combining grapheme joiner, Mongolian vowel separator, zero-width space, ZWNJ, ZWJ,
#: word joiner and the invisible operators, BOM. Removed from questions and article
#: text alike (:func:`sanitize`) and from every matching key (:func:`normalize`).
INVISIBLE: tuple[int, ...] = (
    0x00AD, 0x034F, 0x180E, 0x200B, 0x200C, 0x200D, 0x2060, 0x2061, 0x2062, 0x2063, 0x2064,
    0xFEFF,
)  # fmt: skip

# Characters that carry no identity for matching: harakat and other Arabic combining
# marks, superscript alef, Quranic annotation marks, tatweel, bidi controls, zero-width
# characters (ZWNJ/ZWJ inside Arabic words are typographic only).
_DELETE: list[int] = [
    *_char_range(0x0610, 0x061A),  # Arabic honorific/Quranic small marks (combining)
    *_char_range(0x064B, 0x065F),  # harakat, shadda, sukun, hamza above/below marks
    0x0670,  # superscript (dagger) alef
    *_char_range(0x06D6, 0x06ED),  # Quranic annotation marks
    0x0640,  # tatweel
    0x061C,  # Arabic letter mark
    0x200E,
    0x200F,  # LRM, RLM
    *_char_range(0x202A, 0x202E),  # embeddings and overrides
    *_char_range(0x2066, 0x2069),  # isolates
    *INVISIBLE,
]

_MAP: dict[str, str] = {
    # Hamza seats on alef and alef wasla: writers drop or vary them freely.
    "أ": "ا",
    "إ": "ا",
    "آ": "ا",
    "ٱ": "ا",
    "ٲ": "ا",
    "ٳ": "ا",
    # Hamza on waw / yaa: often written without the hamza. Snowball folds them the same
    # way, so both stems agree; on ARCD folding was neutral (R@1 0.681 vs 0.679).
    "ؤ": "و",
    "ئ": "ي",
    # Alef maqsura and taa marbuta: commonly interchanged with yaa and haa.
    "ى": "ي",
    "ة": "ه",
    # Persian keyboard letters that appear in Arabic web text.
    "ی": "ي",
    "ک": "ك",
    # Arabic decimal/thousands separators, so "1٫6" matches "1.6".
    "٫": ".",
    "٬": ",",
}
_MAP.update({chr(0x0660 + i): str(i) for i in range(10)})  # Arabic-Indic digits
_MAP.update({chr(0x06F0 + i): str(i) for i in range(10)})  # Persian digits

_TABLE: dict[int, str | None] = {cp: None for cp in _DELETE}
_TABLE.update({ord(k): v for k, v in _MAP.items()})


def _compile(table: dict[int, str | None]) -> tuple[re.Pattern[str], dict[str, str]]:
    """A regex for the affected characters plus a replacement map.

    ``re.sub`` with a callback only pays for the few characters that change, which is
    about twice as fast as ``str.translate`` on Arabic text.
    """
    pattern = re.compile("[" + "".join(re.escape(chr(cp)) for cp in sorted(table)) + "]")
    return pattern, {chr(cp): rep or "" for cp, rep in table.items()}


_FOLD_RE, _FOLD = _compile(_TABLE)


def _fold_char(match: re.Match[str]) -> str:
    return _FOLD[match.group()]


def _normalize_once(text: str) -> str:
    return _FOLD_RE.sub(_fold_char, unicodedata.normalize("NFKC", text)).lower()


def normalize(text: str) -> str:
    """Return the matching key of ``text``: spelling variants folded, marks removed.

    NFKC first (presentation forms become letters), then deletions and letter folding,
    then lower-casing. Deleting marks can leave a string that NFKC would recompose, so
    the steps repeat until stable; this keeps ``normalize`` idempotent.
    """
    out = _normalize_once(text)
    for _ in range(3):
        if unicodedata.is_normalized("NFKC", out) and _FOLD_RE.search(out) is None:
            break
        out = _normalize_once(out)
    return out


# --------------------------------------------------------------------------- tokenisation

# A decimal number ("1.6") is one token; otherwise a token is a run of letters/digits.
# Underscore counts as a separator; punctuation of any script (، ؛ ؟ « » quotes) is
# non-word, so it never sticks to token edges.
_TOKEN_RE = re.compile(r"\d+(?:\.\d+)+|[^\W_]+")


def tokenize(text: str) -> list[str]:
    """Split ``text`` into normalised word tokens, punctuation dropped."""
    return _TOKEN_RE.findall(normalize(text))


# --------------------------------------------------------------------------- stemming

# Lucene ArabicStemmer affixes, in the normalised alphabet (ة→ه, so ية/ة are covered by
# يه/ه). Order matters: the first matching prefix is removed; suffixes are tried in turn.
_PREFIXES: tuple[str, ...] = ("ال", "وال", "بال", "كال", "فال", "لل", "و")
_SUFFIXES: tuple[str, ...] = ("ها", "ان", "ات", "ون", "ين", "يه", "ه", "ي")


def _light_stem(token: str) -> str:
    """Lucene-style light stem of an already normalised token.

    Keeps at least two letters, and strips a bare waw only from words of four or more
    letters, as Lucene does, so short roots are not destroyed.
    """
    n = len(token)
    for prefix in _PREFIXES if token.startswith(_PREFIXES) else ():
        p = len(prefix)
        if (p == 1 and n < 4) or n < p + 2:
            continue
        if token.startswith(prefix):
            token = token[p:]
            break
    for suffix in _SUFFIXES if token.endswith(_SUFFIXES) else ():
        s = len(suffix)
        if len(token) >= s + 2 and token.endswith(suffix):
            token = token[:-s]
    return token


def stem(token: str) -> str:
    """Light-stem one token (Lucene ArabicStemmer rules): والكتاب → كتاب, المعلمون → معلم."""
    return _light_stem(normalize(token))


_SNOWBALL = Stemmer.Stemmer("arabic", 0)  # no cache of its own: _token_terms keeps stems

# --------------------------------------------------------------------------- stopwords

_ARABIC_STOPWORDS = """
ما ماذا من متي اين كيف لماذا كم هل اي ايها ايان انى كيفما مما ممن عما فيما فيم
بما لما بم لم لمن بمن عمن بماذا ماهو ماهي ماهم ماهن
وما وماذا ومن ومتي واين وكيف ولماذا وكم وهل واي فما فمن فهل فكيف فاين
في الي عن مع بين منذ حتي عند لدي نحو ضد دون خلال حول تحت فوق امام وراء
بعد قبل عبر ضمن لدن سوي غير الا بلا
وفي ومن والي وعن ومع وبين ومنذ وعند وبعد وقبل وخلال فمن ففي
ان انه انها انهم انا انت انتم انتن انما كان كانت كانوا يكون تكون يكونوا وكان وكانت
قد لقد وقد فقد لن لا ليس ليست لست ولا ولم ولن فلا ثم او بل لكن ولكن لكنه لكنها
اذ اذا اذن اما حيث حين بينما كلما عندما كما وكما وان فان بان لان كي لكي ليت لعل
هو هي هم هن هما نحن انتما وهو وهي وهم فهو فهي
هذا هذه هذان هاتان هؤلاء هولاء ذلك تلك ذلكم اولئك اولاء هنا هناك هنالك ثمه
الذي التي الذين اللذان اللتان اللاتي اللواتي والذي والتي والذين اللذي اللتي اللذين
له لها لهم لهن به بها بهم فيه فيها فيهم منه منها منهم عنه عنها عنهم عليه عليها عليهم
اليه اليها اليهم معه معها بينهم لديه لديها
تم يتم تمت وتم
كل بعض جميع ايضا فقط جدا كذلك هكذا وهكذا
ال و ف ب ك ل ي ه ا
"""

_ENGLISH_STOPWORDS = """
what when where who whom whose which why how whats
a an the this that these those is are was were be been being am do does did done
has have had having of in on at to from by for with about as into onto over under
between through during before after above below up down out off than then so too
very can could will would shall should might must and or but if not no nor
it its s he she they them his her their we you your i me my our us there here
all any both each few more most other some such only own same just also
"""

# Deliberately absent, because folding makes them collide with content words: "على"
# (folds to علي = the name Ali), "أم" (or / mother, as in أم كلثوم), "إيه" (آية, verse),
# English "may" (the month). Their IDF is low anyway; on ARCD dropping "على" from the
# list moved R@1 from 0.680 to 0.682.
STOPWORDS: frozenset[str] = frozenset(
    normalize(w) for w in (_ARABIC_STOPWORDS + _ENGLISH_STOPWORDS).split()
)
"""Normalised function words and question words, which carry no topic."""


# --------------------------------------------------------------------------- terms


def _stems(tokens: Sequence[str]) -> list[tuple[str, ...]]:
    """Keys of normalised, non-stopword tokens: light stem and Snowball stem.

    The light stem keeps words distinct that Snowball conflates; Snowball removes more
    affixes (attached pronouns, verb prefixes) and so finds matches the light stem
    misses. Indexing both lets BM25 reward either kind of match.
    """
    pairs = zip(map(_light_stem, tokens), _SNOWBALL.stemWords(tokens), strict=True)
    return [(light,) if not snow or snow == light else (light, snow) for light, snow in pairs]


@lru_cache(maxsize=200_000)
def _token_terms(token: str) -> tuple[str, ...]:
    return _stems([token])[0]


def term_groups(text: str) -> list[tuple[str, ...]]:
    """Per content token of ``text``, its tuple of keys (see :func:`terms`)."""
    return [_token_terms(t) for t in tokenize(text) if t not in STOPWORDS]


def terms(text: str) -> list[str]:
    """The indexing and query keys of ``text``: content tokens, each as its stem forms."""
    out: list[str] = []
    for token in tokenize(text):
        if token not in STOPWORDS:
            out.extend(_token_terms(token))
    return out


def index_keys(text: str) -> list[str]:
    """The BM25 keys: :func:`terms` plus the character trigrams of each content word.

    Trigrams (marked ``#``, with ``_`` at word edges) match the forms that the stemmers
    miss: broken plurals, attached clitics, spelling variants of names. On ARCD they lift
    BM25 alone from R@1 0.700 to 0.734.
    """
    return list(_text_keys(text))


@lru_cache(maxsize=1024)
def _text_keys(text: str) -> tuple[str, ...]:
    """A text's keys, cached: archives repeat whole paragraphs (boilerplate, a 22 MB file of
    21 distinct paragraphs), and a repeat then costs a copy instead of an analysis."""
    return tuple(itertools.chain.from_iterable(map(token_keys, tokenize(text))))


@lru_cache(maxsize=200_000)
def token_keys(token: str) -> tuple[str, ...]:
    """One :func:`tokenize` token's keys in :func:`index_keys` (none for a stopword), cached:
    a million passages repeat the same few words."""
    return tokens_keys([token])[0]


def tokens_keys(tokens: Sequence[str]) -> list[tuple[str, ...]]:
    """:func:`token_keys` of distinct tokens at once, not cached (a build's new words)."""
    content = [t for t in tokens if t not in STOPWORDS]
    keys = {}
    for token, stems in zip(content, _stems(content), strict=True):
        padded = f"_{token}_"
        keys[token] = stems + tuple(["#" + padded[i : i + 3] for i in range(max(1, len(token)))])
    return [keys.get(t, ()) for t in tokens]


# --------------------------------------------------------------------------- misc


_ARABIC_BLOCKS = ((0x0600, 0x06FF), (0x0750, 0x077F), (0x08A0, 0x08FF), (0xFB50, 0xFDFF),
                  (0xFE70, 0xFEFF))  # fmt: skip


#: The letters (``str.isalpha``) of the Arabic blocks: one regex search instead of a Python
#: call per character (the word bridge tests every distinct spelling of a corpus).
_ARABIC_ALPHA_RE = re.compile(
    "["
    + "".join(
        re.escape(chr(cp))
        for first, last in _ARABIC_BLOCKS
        for cp in range(first, last + 1)
        if chr(cp).isalpha()
    )
    + "]"
)


def is_arabic_token(token: str) -> bool:
    """Whether a token has an Arabic letter (a word the Arabic legs can match)."""
    return _ARABIC_ALPHA_RE.search(token) is not None


def is_mostly_arabic(text: str) -> bool:
    """Whether at least half of the letters in ``text`` are Arabic.

    The lexical leg only understands Arabic keys; a mostly non-Arabic question is
    answered by the dense (multilingual) leg alone. Text without letters is not Arabic.
    """
    letters = sum(map(str.isalpha, text))
    return bool(letters) and len(_ARABIC_ALPHA_RE.findall(text)) * 2 >= letters


_SANITIZE_TABLE: dict[int, None] = {
    cp: None
    for cp in [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0), *_char_range(0x202A, 0x202E)]
    + _char_range(0x2066, 0x2069)
    + list(INVISIBLE)
    if cp not in (0x09, 0x0A)
}

_SANITIZE_RE = re.compile("[" + "".join(re.escape(chr(cp)) for cp in _SANITIZE_TABLE) + "]")


def sanitize(text: str) -> str:
    """Remove control characters (but not newline/tab), bidi overrides/isolates and the
    :data:`INVISIBLE` characters.

    User input is echoed back in replies; an unbalanced RLO or isolate would reorder the
    rest of the message, and raw control characters can break terminals and logs.
    """
    # A regex only pays for the characters it removes: on a 22 MB article ~20× faster than
    # str.translate, which rebuilds the whole text (7 s → 0.3 s on a loaded machine).
    return _SANITIZE_RE.sub("", text)
