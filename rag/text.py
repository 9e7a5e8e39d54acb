"""Text units shared by ingest and retrieval: sentences with offsets, and lexical terms."""
from __future__ import annotations

import logging
import re
from functools import lru_cache

from rag.language import ENGLISH_STOPWORDS, current, language, snowball_stemmer, using
from rag.memo import byte_lru

log = logging.getLogger(__name__)

# A sentence ends at . ! ? (optionally followed by closing quotes/brackets) before white space,
# or at a blank line / a line that starts a Markdown header or list item.
_END = re.compile(r"""[.!?]["')\]]*(?=\s)|\n\s*\n|\n(?=\s*(?:#{1,6}\s|[-*+]\s|\d+[.)]\s))""")
_WORD = re.compile(r"\w\w+", re.UNICODE)

# The English stop list (rag.language holds every language's rules; this name is kept for its readers).
STOPWORDS = ENGLISH_STOPWORDS


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence, white space trimmed; offsets index ``text`` itself."""
    spans: list[tuple[int, int]] = []
    pos = 0
    for m in _END.finditer(text):
        end = m.end()
        if m.group(0).startswith(".") and _is_abbreviation(text, m.start(), end):
            continue
        _add(text, pos, end, spans)
        pos = end
    _add(text, pos, len(text), spans)
    return spans


def _is_abbreviation(text: str, dot: int, end: int) -> bool:
    start = dot
    while start > 0 and (text[start - 1].isalnum() or text[start - 1] == "."):
        start -= 1
    word = text[start:dot].lower()
    if word in current().abbreviations or (len(word) == 1 and word.isalpha()):
        return True
    nxt = text[end:end + 3].strip()  # after any closing quote or bracket: "(a S.à r.l.) and ..."
    return bool(nxt) and nxt[0].islower()  # "approx. ten", a lower-case start is no new sentence


def _add(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> None:
    piece = text[start:end]
    stripped = piece.strip()
    if not stripped:
        return
    s = start + piece.index(stripped[0])
    spans.append((s, s + len(stripped)))


STEMMED = "snowball-english"  # the lexical view the BM25 index and the learned weights were built with
UNSTEMMED = "unstemmed"


@lru_cache(maxsize=1)
def _stemmer():  # noqa: ANN202
    stemmer = snowball_stemmer("english")
    if stemmer is None:
        # PyStemmer is a declared dependency; this only happens in a broken install. Say it once, loudly:
        # BM25 then matches fewer word forms, and the learned scorers refuse to run (their weights were
        # fitted on stemmed terms), rather than quietly scoring worse.
        log.warning("PyStemmer is not installed: lexical terms are unstemmed, so BM25 recall drops and the "
                    "embedding reranker refuses to run. Reinstall leanrag (pip install PyStemmer).")
    return stemmer


def text_processing() -> str:
    """Which lexical view is in force: ``STEMMED`` or, in a broken install, ``UNSTEMMED``."""
    return STEMMED if _stemmer() is not None else UNSTEMMED


@byte_lru(4)
def _stem(code: str, word: str) -> str:
    return language(code).stem(word)


def terms(text: str) -> list[str]:
    """Lower-cased, stemmed content words: the lexical view of a text (index and query alike), in the
    current language (``rag.language``)."""
    lang = current()
    return [_stem(lang.code, w) for w in _WORD.findall(text.lower()) if w not in lang.stopwords]


_TOKEN = re.compile(r"[\w'’.&-]+")


def named_terms(question: str) -> list[str]:
    """The terms of a question's names and numbers: capitalised words after the first, words with a digit.

    A question about two entities ("Which of Jonny Craig and Pete Doherty ...") needs evidence on each;
    common words are left to the evidence mass, as most of them appear everywhere.

    >>> named_terms("Which of Jonny Craig and Pete Doherty was born in 1979?")
    ['jonni', 'craig', 'pete', 'doherti', '1979']
    """
    return list(dict.fromkeys(t for w in _named_words(question) for t in terms(w)))


def _named_words(question: str) -> list[str]:
    words, capitals = _TOKEN.findall(question), current().capitalised_names
    return [w for i, w in enumerate(words)
            if (capitals and i > 0 and w[:1].isupper()) or any(ch.isdigit() for ch in w)]


def unmentioned_names(question: str, text: str) -> list[str]:
    """The question's names and numbers (as ``named_terms`` finds them) that ``text`` never mentions.

    A one-letter slip in a name of five letters or more still counts as a mention: askers misspell names
    ("Muhummad Ali"), and a context that names the right person should not look unrelated for it.

    >>> unmentioned_names("Who did Muhummad Ali fight in 1975 in Manila?", "Muhammad Ali fought Frazier.")
    ['1975', 'Manila']
    """
    # a whole context is seen once: terms(), not the memoised term_tuple(), so it does not crowd that cache
    stems, words = set(terms(text)), set(_WORD.findall(text.lower()))
    names = dict.fromkeys(w.strip(".'’") for w in _named_words(question))
    return [w for w in names if not (set(terms(w)) <= stems or _near(w.lower(), words))]


def _near(word: str, words: set[str]) -> bool:
    """A word of the text is ``word`` but for one letter (stems would hide it: "rottnes" -> "rottn")."""
    return len(word) >= 5 and any(w[:1] == word[:1] and _one_edit(word, w) for w in words)


def _one_edit(a: str, b: str) -> bool:
    """``a`` and ``b`` differ by one substituted, inserted or deleted character (or not at all)."""
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) > len(b):
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    return a[i + 1:] == b[i + 1:] if len(a) == len(b) else a[i:] == b[i + 1:]


def is_question(query: str) -> bool:
    """Whether a query is phrased as a question (claims and keyword queries are not).

    >>> is_question("In what year was Patti Page born"), is_question("Vitamin D lowers fracture risk.")
    (True, False)
    """
    return query.rstrip().endswith(("?", "？", "؟")) or bool(current().question_start.match(query))


def term_tuple(text: str) -> tuple[str, ...]:
    """``terms`` memoised: the same passages and sentences come back question after question."""
    return _term_tuple(current().code, text)


@byte_lru(16)
def _term_tuple(code: str, text: str) -> tuple[str, ...]:
    with using(code):
        return tuple(terms(text))


# An encyclopaedia-style lead names its subject before its first verb or bracket: "Ed Wood (born ...) is",
# "The Normans were", "Up the Shambles – Live in Manchester is", "University of Notre Dame du Lac, known as".
_LEAD_END = re.compile(r"\s*(?:[(,;]|\s(?:is|was|are|were|has|had|became|refers|took|occurred|represents"
                       r"|represented|serves|served)\b)")
_NICKNAME = re.compile(r"\s+[\"“][^\"”]{1,30}[\"”]\s+")
_ARTICLE = re.compile(r"^(?:The|A|An)\s+")
_QUOTED_LEAD = re.compile(r"^\s*[\"“]([^\"”]{1,80}?)[?!,.]?[\"”]")
# An opening clause of time or place before the subject, and a work's subtitle after its title.
_LEAD_CLAUSE = re.compile(r"^\s*(?:During|In|On|At|After|Before|Since|From|By|Following|Until)\s[^,.;]{2,40},\s+"
                          r"(?=[\"“A-Z0-9])")
_SUBTITLE = re.compile(r"(?<=[?!:])\s+")
_NOT_SUBJECTS = STOPWORDS | {"however", "today", "meanwhile", "therefore", "thus", "although", "because",
                             "during", "since", "after", "before", "later", "early", "here", "yes", "also",
                             "in", "on", "at", "there", "this", "these", "it", "he", "she", "they", "we"}


def lead_subject(text: str) -> str:
    """The entity a passage is about, read from its opening words ("" when it does not open with one).

    Stands in for a title when a caller passes plain text, so that multi-hop questions can still be
    linked from one passage to the passage about an entity it names.

    >>> lead_subject("Scott Derrickson (born July 16, 1966) is an American director.")
    'Scott Derrickson'
    >>> lead_subject("However, the results were mixed.")
    ''
    >>> lead_subject('"If You Ever Get Lonely" is a song by Love and Theft.')
    'If You Ever Get Lonely'
    >>> lead_subject("The Shallows: What the Internet Is Doing to Our Brains is a book by Nicholas Carr.")
    'Shallows'
    >>> lead_subject("During World War II, Operation Cold Comfort was a failed raid.")
    'Operation Cold Comfort'
    >>> lead_subject('"Is Google Making Us Stupid? What the Internet is doing" is an article by Nicholas Carr.')
    'Is Google Making Us Stupid?'
    """
    return _lead_subject(text[:200]) if current().encyclopaedia else ""


@byte_lru(2)
def _lead_subject(head: str) -> str:
    """``lead_subject`` of a passage's first 200 characters, memoised: the hop reads each candidate's name
    in three places, and the same passages come back question after question."""
    head = _LEAD_CLAUSE.sub("", head)  # "During World War II, Operation Cold Comfort was ..."
    quoted = _QUOTED_LEAD.match(head)
    if quoted:  # a work's title in quotes may open with any word: '"If You Ever Get Lonely" is a song'
        subject = _SUBTITLE.split(quoted.group(1).strip())[0]  # '"Is Google Making Us Stupid? What ..."'
        return subject if 1 <= len(subject.split()) <= 10 and subject[:1].isupper() else ""
    m = _LEAD_END.search(head)
    if m is None:
        return ""
    subject = _ARTICLE.sub("", _NICKNAME.sub(" ", head[:m.start()]).strip(" \"'“”‘’"))
    subject = subject.split(": ")[0]  # "The Shallows: What the Internet Is Doing to Our Brains" is The Shallows
    words = subject.split()
    if not 1 <= len(words) <= 8 or not (subject[:1].isupper() or subject[:1].isdigit()):
        return ""
    return "" if words[0].lower() in _NOT_SUBJECTS or len(subject) < 3 else subject


# "Clara Ann Fowler (1927 - 2013), known by her professional name Patti Page, was ...": the name the
# other passages use.
_ALIAS = re.compile(r"\b(?:(?:better |also |professionally |popularly )?known (?:professionally )?(?:as|by (?:his|her|"
                    r"their|its|the) (?:stage |professional |pen |ring )?name)|abbreviated(?: as| to)?|shortened to|"
                    r"(?:also|commonly|often) called)\s+[\"“]?([A-Z][\w'’.&-]*"
                    r"(?:\s+(?:of |the |de |van |von )?[A-Z][\w'’.&-]*){0,4})")


def lead_aliases(opening: str) -> list[str]:
    """Other names an opening sentence gives its subject ("known as ...", "known by her stage name ...").

    >>> lead_aliases("Clara Ann Fowler (1927 - 2013), known by her professional name Patti Page, was a singer.")
    ['Patti Page']
    """
    if not current().encyclopaedia:
        return []
    subject = lead_subject(opening)
    other = [subject.split(" or ", 1)[1]] if " or " in subject else []  # "Bhavageete or Bhavageeth"
    return list(_lead_aliases(opening[:300])) + other


@byte_lru(2)
def _lead_aliases(head: str) -> tuple[str, ...]:
    return tuple(m.group(1).rstrip(".") for m in _ALIAS.finditer(head))


def embed_text(title: str, text: str) -> str:
    """What the embedder sees: the title gives a chunk its topic."""
    if title and not text.lstrip("# ").startswith(title):
        return f"{title}\n{text}"
    return text
