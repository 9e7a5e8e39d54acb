"""What leanrag assumes about the language of the text: one place, one setting (``language``).

English (``en``, the default) gets the full set of rules written for it: a stop list, the Snowball English
stemmer, abbreviations that do not end a sentence, question words, capitalised words taken as names, and the
encyclopaedia rules of the hop (a passage's subject read from its opening words, "also known as" aliases,
place adjectives). They were written for English encyclopaedia text and mean nothing elsewhere: German
capitalises every noun (so every noun would pass for a name the context must cover), and "ist"/"war" are no
"is"/"was" to a lead-subject rule.

Another language gets what is known to hold for it: its Snowball stemmer where PyStemmer has one, no stop
list (BM25's IDF already discounts common words), single letters as the only abbreviations, a question
recognised by its question mark, names only where the language capitalises names alone, and no
encyclopaedia rules (a passage is named by its ``title`` field only). ``neutral`` is that with no stemmer at
all: lower-cased words, for any language, the fallback when no rules are known.

The language is a setting of the pipeline, read when a call starts (``using``): every function of
``rag.text`` asks ``current()`` instead of taking a parameter, so the many places that read terms stay as
they are, and two pipelines of different languages in one process do not mix (a context variable is per
thread and per task).
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from typing import Any

# Snowball algorithms of PyStemmer by ISO 639-1 code (the languages a user is likely to name).
SNOWBALL = {"en": "english", "de": "german", "fr": "french", "es": "spanish", "it": "italian", "pt": "portuguese",
            "nl": "dutch", "sv": "swedish", "da": "danish", "no": "norwegian", "fi": "finnish", "ru": "russian",
            "ro": "romanian", "hu": "hungarian", "tr": "turkish", "el": "greek", "ar": "arabic", "ca": "catalan"}
# Languages whose capitalised words (after the first of a sentence) are names, not every noun.
_NAMES_CAPITALISED = {"en", "fr", "es", "it", "pt", "nl", "sv", "da", "no", "fi", "ro", "hu", "tr", "ca", "ru", "el"}

ENGLISH_STOPWORDS = frozenset("""a an and are as at be been but by can could did do does for from had has have he
her his how i if in into is it its may might more most my no not of on or our she should so such than that the
their them then there these they this those to was we were what when where which while who whom whose why will
with would you your about after also any before between both each few further here just only other over same
some through under until very""".split())
ENGLISH_ABBREVIATIONS = frozenset({
    "e.g", "i.e", "etc", "vs", "dr", "mr", "mrs", "ms", "prof", "st", "no", "fig", "al", "approx", "u.s", "u.k",
    "inc", "ltd", "jr", "sr", "cf", "ca", "vol", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept",
    "oct", "nov", "dec"})
# A question opens with a question word, maybe after a preposition ("In what year ..."), or ends with "?".
_ENGLISH_QUESTION = re.compile(r"^\W*(?:(?:in|on|at|by|for|from|to|of|during|since|after|before|with|under)\s+)?"
                               r"(?:what|which|who|whom|whose|when|where|why|how|is|are|was|were|do|does|did|can"
                               r"|could|should|would|will|has|have|had)\b", re.I)
_NO_QUESTION_WORDS = re.compile(r"^\s*[¿؟]")  # Spanish opens a question with "¿"


@dataclass(frozen=True)
class Language:
    code: str
    stopwords: frozenset[str]
    abbreviations: frozenset[str]
    question_start: re.Pattern[str]
    capitalised_names: bool  # capitalised words after the first are names (English), not every noun (German)
    encyclopaedia: bool      # the English lead-subject, alias and place-adjective rules of the hop
    snowball: str | None     # PyStemmer algorithm, None: words are only lower-cased

    def stem(self, word: str) -> str:
        stemmer = snowball_stemmer(self.snowball) if self.snowball else None
        return stemmer.stemWord(word) if stemmer is not None else word


ENGLISH = Language("en", ENGLISH_STOPWORDS, ENGLISH_ABBREVIATIONS, _ENGLISH_QUESTION, True, True, "english")
NEUTRAL = Language("neutral", frozenset(), frozenset(), _NO_QUESTION_WORDS, False, False, None)


@cache
def language(code: str) -> Language:
    """The Language of a setting's value: ``en``, ``neutral``, or a code of ``SNOWBALL``."""
    if code == "en":
        return ENGLISH
    if code == "neutral":
        return NEUTRAL
    if code not in SNOWBALL:
        raise ValueError(f"unknown language {code!r}: one of en, neutral, {', '.join(sorted(SNOWBALL))}")
    return Language(code, frozenset(), frozenset(), _NO_QUESTION_WORDS, code in _NAMES_CAPITALISED, False,
                    SNOWBALL[code])


_WORDS = re.compile(r"\w+")
# English prose is a third or more stop words (XQuAD's English paragraphs: median 0.39, 5th percentile 0.29);
# the same paragraphs in German or Spanish hold at most 0.15 of English ones, mostly 0.02-0.03.
ENGLISH_SHARE = 0.12


def reads_as_english(text: str) -> bool:
    """Whether ``text`` looks like English prose: enough of its words are English stop words. A model
    trained on English scores (the learned abstention) is only trusted on such text."""
    words = _WORDS.findall(text.lower())
    return bool(words) and sum(w in ENGLISH_STOPWORDS for w in words) >= ENGLISH_SHARE * len(words)


_CURRENT: ContextVar[Language] = ContextVar("leanrag_language", default=ENGLISH)


def current() -> Language:
    return _CURRENT.get()


@contextmanager
def using(code: str) -> Iterator[Language]:
    """Make ``code`` the language of the text functions for the duration of a call."""
    token = _CURRENT.set(language(code))
    try:
        yield _CURRENT.get()
    finally:
        _CURRENT.reset(token)


@cache
def snowball_stemmer(algorithm: str) -> Any:
    """PyStemmer's stemmer for ``algorithm`` (None in a broken install without PyStemmer, which
    ``rag.text.text_processing`` reports)."""
    try:
        import Stemmer
    except ImportError:
        return None
    return Stemmer.Stemmer(algorithm)
