"""Language is explicit: the English rules apply to English; other languages get their own stemmer and none
of the English encyclopaedia rules."""
from __future__ import annotations

import pytest
from pydantic import ValidationError

from rag import Settings
from rag.language import current, language, using
from rag.text import is_question, lead_aliases, lead_subject, named_terms, sentence_spans, terms


def test_english_is_the_default_and_keeps_its_rules() -> None:
    assert current().code == "en"
    assert terms("The runners were running") == ["runner", "run"]
    assert lead_subject("Scott Derrickson (born July 16, 1966) is an American director.") == "Scott Derrickson"
    assert lead_aliases("Clara Ann Fowler (1927 - 2013), known by her professional name Patti Page, was a "
                        "singer.") == ["Patti Page"]
    assert named_terms("Which of Jonny Craig and Pete Doherty was born in 1979?")[:2] == ["jonni", "craig"]
    assert is_question("In what year was Patti Page born")


def test_german_gets_its_stemmer_and_no_english_rule() -> None:
    with using("de"):
        assert terms("Die Häuser der Städte") == ["die", "haus", "der", "stadt"]  # no English stop list
        # German capitalises every noun: none of them is a name the context must cover, numbers still are
        assert named_terms("Wann wurde die Universität in Berlin im Jahr 1810 gegründet?") == ["1810"]
        assert lead_subject("Die Universität (gegründet 1810) ist eine Hochschule.") == ""
        assert lead_aliases("Clara Ann Fowler, known as Patti Page, was a singer.") == []
        assert is_question("Wann wurde sie gegründet?") and not is_question("Wann wurde sie gegründet")
        # only single letters are abbreviations: "Nr." is no English one
        assert len(sentence_spans("Er kam. Dann ging er.")) == 2
    assert current().code == "en"  # restored after the call


def test_neutral_only_lowercases_and_memos_do_not_mix_languages() -> None:
    english = terms("Running dogs")
    with using("neutral"):
        assert terms("Running dogs") == ["running", "dogs"]
    assert terms("Running dogs") == english == ["run", "dog"]


def test_the_setting_names_the_known_languages() -> None:
    assert Settings(language="fr").language == "fr" and language("fr").snowball == "french"
    with pytest.raises(ValidationError, match="unknown language 'xx'"):
        Settings(language="xx")
