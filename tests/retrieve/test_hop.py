from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from rag.retrieve.hop import second_hop
from rag.types import Candidate


def test_title_named_by_a_top_passage_is_lifted() -> None:
    ranked = [Candidate("a", "The film was directed by Jane Roe in 1999.", title="Some Film", score=0.9),
              Candidate("b", "Unrelated text.", title="Other", score=0.3),
              Candidate("c", "Jane Roe is a director born in Ohio.", title="Jane Roe", score=0.1)]
    hop = second_hop("Where was the director of Some Film born?", ranked)
    score = {c.id: c.score for c in hop.ranked}
    assert score["c"] == 0.9 * 0.9 and [n.id for n in hop.lifts] == ["c"]
    assert "top passage a names 'Jane Roe'" in hop.lifts[0].reason
    assert score["b"] == 0.3 and [c.id for c in hop.ranked] == ["a", "c", "b"]
    assert [c.score for c in ranked] == [0.9, 0.3, 0.1] and "hop" not in ranked[2].scores  # inputs untouched


def test_title_named_by_the_question_and_parenthetical_titles() -> None:
    ranked = [Candidate("a", "x", title="Alpha", score=0.8),
              Candidate("b", "y", title="Mercury (planet)", score=0.05)]
    hop = second_hop("How hot is Mercury at noon?", ranked)
    assert {c.id: c.score for c in hop.ranked}["b"] == 0.8 * 0.9


def test_shared_titles_and_short_names_are_ignored() -> None:
    ranked = [Candidate("a", "Super Bowl 50 was played in 2016.", title="Super Bowl 50", score=0.9),
              Candidate("b", "Super Bowl 50 halftime.", title="Super Bowl 50", score=0.2),
              Candidate("c", "The NFL is a league.", title="NFL", score=0.1)]
    hop = second_hop("Who won Super Bowl 50 in the NFL?", ranked)
    assert hop.lifts == [] and [c.score for c in hop.ranked] == [0.9, 0.2, 0.1]


def test_passages_of_two_sources_opening_with_one_name_are_two_entities() -> None:
    song = Candidate("s", "The song was covered by Love and Theft in 2009.", source="song.html", score=0.9)
    duo = Candidate("d", "Love and Theft is an American country music duo.", source="duo.html", score=0.1)
    album = Candidate("a", "Love and Theft is the second album by the duo.", source="album.html", score=0.05)
    hop = second_hop("Which band covered the song?", [song, duo, album])
    assert {d.id for d in hop.lifts} == {"d", "a"}
    # one source, no source, or one title: sections of one document, which no name singles out
    for other in ({"source": "duo.html"}, {"source": ""}, {"title": "Love and Theft"}):
        same = [song, replace(duo, **other), replace(album, **other)]
        assert second_hop("Which band covered the song?", same).lifts == []
    assert second_hop("Which band covered the song?", [song, duo, replace(album, title="Love and Theft")]).lifts == []


def test_multi_hop_needs_entities_not_topic_words() -> None:
    from rag.retrieve.hop import is_multi_hop

    film = Candidate("f", "Some Film is a 1990 drama directed by Ann Lee.", title="Some Film", score=0.9)
    person = Candidate("p", "Ann Lee was born in Leeds.", title="Ann Lee", score=0.1)
    other = Candidate("o", "Unrelated text.", title="Other", score=0.05)
    ranked = [film, person, other]
    lifts = second_hop("Where was the director of Some Film born?", ranked).lifts
    assert is_multi_hop("Where was the director of Some Film born?", ranked, lifts)       # a bridge
    a = Candidate("a", "reasoning tokens are billed as output", title="Costs", score=0.9)
    b = Candidate("b", "Hidden tokens.", title="Reasoning tokens", score=0.1)
    lifts = second_hop("How are tokens billed?", [a, b]).lifts
    assert lifts and not is_multi_hop("How are tokens billed?", [a, b], lifts)          # a topic phrase
    x = Candidate("x", "A magazine.", title="Woman's Era", score=0.5)
    y = Candidate("y", "Another magazine.", title="Antic", score=0.4)
    q = "Are Woman's Era and Antic both magazines?"
    assert is_multi_hop(q, [x, y], second_hop(q, [x, y]).lifts)                          # a comparison
    assert not is_multi_hop("What is Antic?", [x, y], second_hop("What is Antic?", [x, y]).lifts)


def test_plain_passages_are_linked_by_the_subject_of_their_opening_words() -> None:
    from rag.retrieve.hop import is_multi_hop
    from rag.text import lead_subject

    assert lead_subject("Ed Wood (born October 10, 1924) was an American filmmaker.") == "Ed Wood"
    assert lead_subject("The Normans were the people who gave their name to Normandy.") == "Normans"
    assert lead_subject("In 1990 he moved to Paris.") == "" and lead_subject("it is raining.") == ""
    film = Candidate("f", "Plan 9 is a 1957 film directed by Ed Wood.", score=0.9)
    person = Candidate("p", "Ed Wood (born 1924) was an American filmmaker from New York.", score=0.1)
    noise = Candidate("n", "Quokkas are small marsupials.", score=0.2)
    ranked = [film, noise, person]
    hop = second_hop("Where was the director of Plan 9 born?", ranked)
    lifts = hop.lifts
    assert [d.id for d in lifts] == ["p"] and [c.id for c in hop.ranked] == ["f", "p", "n"]
    assert is_multi_hop("Where was the director of Plan 9 born?", ranked, lifts)


def test_a_name_held_in_part_links_plain_passages() -> None:
    """A top passage names another passage's subject in other words: lifted; an entity so named is a bridge."""
    from rag.retrieve.features import Idf
    from rag.retrieve.hop import is_multi_hop

    coach = Candidate("c", "Kent Lex Baer (born 1951) is an American college football coach. He is the defensive "
                           "coordinator for the UNLV Rebels team.", score=0.8)
    team = Candidate("t", "The UNLV Rebels football team represents the University of Nevada. It plays at "
                          "Sam Boyd Stadium.", score=0.01)
    other = Candidate("o", "The Arkansas State football team represents Arkansas State University.", score=0.05)
    ranked = [coach, other, team]
    idf = Idf.from_texts([c.text for c in ranked])
    q = "What stadium does the side with Kent Baer as its defensive coordinator play its home games in?"
    assert second_hop(q, ranked).lifts == []  # no exact name
    hop = second_hop(q, ranked, idf=idf)
    lifts = hop.lifts
    by_id = {d.id: d for d in lifts}
    assert (by_id["t"].share or 0) >= 0.7  # the anchors lift each other a little by shared opening words
    assert "holds" in by_id["t"].reason and "'UNLV Rebels football team'" in by_id["t"].reason
    order = [c.id for c in hop.ranked]
    assert order.index("t") < order.index("o")
    assert not is_multi_hop(q, ranked, lifts)  # "football team" is a topic, not an entity's name

    keeper = Candidate("k", "Sadok Sassi (born 1945 in Tunis) is a former goalkeeper who played for Club Africain.",
                       score=0.8)
    club = Candidate("a", "Club Africain Tunis (founded 1920) is a football club.", score=0.01)
    noise = Candidate("n", "Olle Nordin (born 1949) is a Swedish coach.", score=0.02)
    ranked = [keeper, noise, club]
    q = "In which year was the side Sadok Sassi played for founded?"
    hop = second_hop(q, ranked, idf=Idf.from_texts([c.text for c in ranked]))
    order = [c.id for c in hop.ranked]
    assert "a" in {d.id for d in hop.lifts} and order.index("a") < order.index("n")
    assert is_multi_hop(q, ranked, hop.lifts)
    # the question's own words link nothing: every passage shares them
    lonely = [Candidate("a", "Football is a sport.", score=0.8), Candidate("b", "Football programs.", score=0.1)]
    assert second_hop("Which football program?", lonely, idf=Idf.from_texts([c.text for c in lonely])).lifts == []


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ab _-é1(", max_size=30), st.text(alphabet="ab _-é1(", min_size=1, max_size=5))
def test_mentions_agrees_with_the_word_boundary_regex(text: str, name: str) -> None:
    import re

    from rag.retrieve.hop import _mentions

    assert _mentions(text, name) == (re.search(rf"(?<!\w){re.escape(name)}(?!\w)", text) is not None)


def test_a_lead_link_lifts_the_passage_whose_opening_the_top_passage_echoes() -> None:
    """Plain text, the subject under another name in the opening: the opening's words link it, lift it
    above a passage sharing only the question's topic, and do not by themselves make a bridge."""
    from rag.retrieve.features import Idf
    from rag.retrieve.hop import is_multi_hop

    song = Candidate("s", "Moonlit Harbour is a 1951 ballad by Ray Lindqvist, made famous by Della Marsh in 1953.",
                     score=0.9)
    singer = Candidate("d", "Adelaide Marsh Whitcombe (1931 - 2004), known on stage as Della Marsh, was a jazz "
                            "singer from Ohio.", score=0.01)
    other = Candidate("o", "Harbour Lights is a song that many singers recorded.", score=0.03)
    ranked = [song, other, singer]
    idf = Idf.from_texts([c.text for c in ranked])
    q = "When was the singer who made Moonlit Harbour famous born?"
    assert second_hop(q, ranked).lifts == []  # no idf: names only
    hop = second_hop(q, ranked, idf=idf)
    lift = next(d for d in hop.lifts if d.id == "d")
    assert "opening sentence" in lift.reason and lift.anchor == "s"
    assert [c.id for c in hop.ranked] == ["s", "d", "o"]
    assert not is_multi_hop(q, ranked, [lift])


def test_a_person_is_linked_by_the_short_form_of_the_name_a_lead_gives_in_full() -> None:
    from rag.retrieve.hop import _called, is_multi_hop

    assert _called("the running mate Tim Kaine, released", "Timothy Michael Kaine")
    assert _called("created by Nick Park of Aardman", "Nicholas Wulstan Park")
    assert not _called("The Chronicle of Philanthropy", "The Morning Chronicle")  # no person: an article
    assert not _called("Paul Doherty sang", "Peter Doherty") and not _called("a Kaine", "Timothy Kaine")
    book = Candidate("b", "Stronger Together is a 2016 book by Hillary Clinton and her running mate Tim Kaine.",
                     score=0.8)
    senator = Candidate("s", "Timothy Michael Kaine (born 1958) is the junior United States Senator from "
                             "Virginia. A Democrat, he was elected in 2012.", score=0.05)
    noise = Candidate("n", "A running mate runs on a joint ticket.", score=0.1)
    q = "Stronger Together was used for the campaign of a Senator from what state?"
    hop = second_hop(q, [book, noise, senator])
    assert [c.id for c in hop.ranked] == ["b", "s", "n"] and "names 'Timothy Michael Kaine'" in hop.lifts[0].reason
    assert is_multi_hop(q, hop.ranked, hop.lifts)


def test_the_sentences_that_carry_a_hop_come_first() -> None:
    """Multi-hop: in the linked passages, the opening sentence (who the subject is) and a sentence naming
    the other linked passage score as high as the passage's best sentence; other passages are untouched."""
    from rag.retrieve.hop import multi_hop_links, openings_first

    film = Candidate("f", "Plan 9 is a 1957 film. Its director was Ed Wood.", score=0.9,
                     sentences=[(0, 22), (23, 48)], sentence_scores=[0.6, 0.1])
    person = Candidate("p", "Ed Wood (born 1924) was a filmmaker. He grew up in Poughkeepsie. He liked angora.",
                       score=0.1, sentences=[(0, 36), (37, 63), (64, 81)], sentence_scores=[0.02, 0.3, 0.01])
    noise = Candidate("n", "Quokkas are small. They smile.", score=0.2, sentences=[(0, 17), (18, 30)],
                      sentence_scores=[0.01, 0.05])
    q = "Where did the director of Plan 9 grow up?"
    hop = second_hop(q, [film, noise, person])
    linked = multi_hop_links(q, hop.ranked, hop.lifts)
    assert set(linked) == {"f", "p"}
    out = {c.id: c.sentence_scores for c in openings_first(hop.ranked, linked)}
    assert out["p"] == [0.3, 0.3, 0.01]   # the opening says who Ed Wood is
    assert out["f"] == [0.6, 0.6]         # the sentence naming Ed Wood is the link
    assert out["n"] == [0.01, 0.05] and person.sentence_scores == [0.02, 0.3, 0.01]  # inputs untouched
    assert multi_hop_links("What do quokkas eat?", [noise], []) == []


def test_a_subject_known_by_another_name_is_linked_by_it() -> None:
    from rag.retrieve.hop import is_multi_hop
    from rag.text import lead_subject

    song = Candidate("s", '"Lovelight" is a 1942 song, popularized by Patti Page in 1949.', score=0.9)
    singer = Candidate("p", "Clara Ann Fowler (1927 - 2013), known by her professional name Patti Page, was an "
                            "American singer. She sold 100 million records.", score=0.01)
    noise = Candidate("n", "Robyn (born 1979) is a Swedish singer.", score=0.2)
    q = "In what year was the singer who popularized Lovelight born?"
    hop = second_hop(q, [song, noise, singer])
    assert [c.id for c in hop.ranked] == ["s", "p", "n"]
    assert "names 'Clara Ann Fowler' as 'patti page'" in hop.lifts[0].reason
    assert is_multi_hop(q, hop.ranked, hop.lifts)
    # a lead that opens with a clause of time, and a quoted title with its subtitle
    assert lead_subject("During World War II, Operation Cold Comfort was a failed raid.") == "Operation Cold Comfort"
    assert lead_subject('"Is It Stupid? What the Web Does" is an essay.') == "Is It Stupid?"
    assert lead_subject("In 1990, the band split.") == ""


def test_other_names_a_lead_gives_link_it_too() -> None:
    """An opening sentence's abbreviation ("abbreviated GmbH") and a subject given two ways ("X or Y") are
    names other passages use; a top passage writing one lifts the lead from nothing."""
    from rag.text import lead_aliases

    assert lead_aliases("A Gesellschaft mit beschränkter Haftung (abbreviated GmbH) is a legal entity.") == ["GmbH"]
    assert lead_aliases("Bhavageete or Bhavageeth (literally 'emotion poetry') is a form of poetry.") == ["Bhavageeth"]
    assert lead_aliases("The cat, also called Felis, is small.") == ["Felis"]
    assert lead_aliases("Ed Wood (born 1924) was a filmmaker.") == []
    top = Candidate("t", "VIVA Media GmbH (until 2004 VIVA Media AG) is a music network.", score=0.6)
    lead = Candidate("g", "A Gesellschaft mit beschränkter Haftung (abbreviated GmbH) is a type of legal entity "
                          "very common in Germany.", score=0.0)
    noise = Candidate("n", "Robyn (born 1979) is a Swedish singer.", score=0.01)
    hop = second_hop("What does the new acronym of VIVA Media AG stand for?", [top, noise, lead])
    assert [c.id for c in hop.ranked][:2] == ["t", "g"]
    assert "as 'gmbh'" in next(d.reason for d in hop.lifts if d.id == "g")


def test_sections_cut_from_a_document_get_no_multi_hop_switch() -> None:
    """Untitled passages without their own sources, most not opening with a subject, are sections of one
    document: the name one opens with is the document's topic, which the others mention, not a bridge."""
    from rag.retrieve.hop import cut_from_documents, multi_hop_links

    q = "Who betrayed the location of the army?"
    top = Candidate("t", "In 1211, after the conquest, Genghis Khan planned to invade. A defector betrayed "
                         "the location of the army.", score=0.9)
    lead = Candidate("l", "Genghis Khan was aware of the friction between his sons.", score=0.1)
    rest = [Candidate(f"r{i}", f"In {1200 + i}, the campaign went on.", score=0.05) for i in range(3)]
    ranked = [top, lead, *rest]
    hop = second_hop(q, ranked)
    assert [d.id for d in hop.lifts if d.id == "l"] == ["l"]        # the hop still lifts by name
    assert cut_from_documents(ranked) and multi_hop_links(q, ranked, hop.lifts) == []
    # leads that open with their subject, or passages from sources of their own, keep the switch
    leads = [top, lead, *[replace(r, text=f"Kara Khitai{i} was a state.") for i, r in enumerate(rest)]]
    sourced = [replace(c, source=f"{c.id}.html") for c in ranked]
    for pool in (leads, sourced):
        assert not cut_from_documents(pool)
        assert multi_hop_links(q, pool, second_hop(q, pool).lifts) == ["t", "l"]


def test_named_leads_are_passages_a_name_raised_from_next_to_nothing() -> None:
    """A passage a name lifted at least twofold is a lead of the passage naming it; a passage only echoing a top
    passage's words, one barely lifted, and sections of one document are not."""
    from rag.retrieve.hop import named_leads

    q = "Where was the director of Some Film born?"
    top = Candidate("t", "Some Film was directed by Jane Roe for Acme Studios in 1999.", score=0.8)
    person = Candidate("s", "Jane Roe (born 1950) is a director from Ohio.", score=0.02)
    studio = Candidate("p", "Acme Studios is a company that makes films.", score=0.5)
    noise = Candidate("n", "Quokkas are small marsupials.", score=0.01)
    hop = second_hop(q, [top, studio, person, noise])
    lifted = {d.id: d for d in hop.lifts}
    assert lifted["s"].by_name and lifted["s"].after >= 2 * lifted["s"].before
    leads = named_leads(hop.ranked, hop.lifts, 0.1)
    assert leads["s"] == "t" and "n" not in leads
    assert "p" not in leads  # named too, but it scored well already: the question reaches it
    assert named_leads(hop.ranked, hop.lifts, 0.9) == {}  # lifted to less than the floor
    # sections cut from one document: names are its topic
    sections = [Candidate(f"x{i}", f"In {1930 + i}, the season went on.", score=0.05) for i in range(4)]
    pool = [top, person, *sections]
    lifts = second_hop(q, pool).lifts
    assert "s" in {d.id for d in lifts} and named_leads(pool, lifts, 0.1) == {}


def test_a_place_adjective_holds_the_place_it_names() -> None:
    """"The Tunisian national team" holds "Tunisia": the team's passage, which names the country, is lifted;
    a passage of another country is not."""
    from rag.retrieve.features import Idf
    from rag.retrieve.hop import _held

    assert {"tunisia", "brazil"} <= _held("He played for the Tunisian side and the Brazilian one.")
    assert "tunisian" in _held("He played for the Tunisian side.")  # the word itself is still held
    keeper = Candidate("k", "Sadok Sassi is a former goalkeeper. He played for the Tunisian national team.",
                       score=0.8)
    team = Candidate("t", "The Tunisia national football team represents Tunisia in international football.",
                     score=0.01)
    other = Candidate("o", "The Morocco national football team represents Morocco in football.", score=0.02)
    ranked = [keeper, other, team]
    hop = second_hop("How many World Cups did the side Sadok Sassi kept goal for reach?", ranked,
                     idf=Idf.from_texts([c.text for c in ranked]))
    order = [c.id for c in hop.ranked]
    assert order.index("t") < order.index("o")
