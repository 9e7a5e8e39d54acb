"""Second hop by name: a passage about an entity that the question or a top passage names.

Multi-hop questions ("the director of the film that ...") need a passage the question does not
resemble; its name is what links it. A passage's name is its title or, for plain text without one,
the subject its opening words introduce ("Ed Wood (born ...) is ..."). A candidate whose name is
named by the question or by one of the best passages is lifted close to the passage that names it.
Names shared by several candidates (sections of one long article) name no single entity and are
ignored.

A top passage often names an entity in other words than its name: "defensive coordinator for UNLV"
for the passage "UNLV Rebels football program", "Kent Baer" for "Kent Lex Baer". So a name is also
found *in part*: the share of its rarer words (IDF-weighted, words of the question aside) that the top
passage holds. Half of that weight lifts the passage in proportion; most of it makes a bridge.

A name read from opening words misses the other names a subject goes by ("Clara Ann Fowler, known
professionally as Patti Page"), so plain text needs a link that does not rest on one name: the share of
a passage's whole opening sentence that a top passage holds (a *lead link*) raises its score in
proportion. It lifts; it makes a bridge only when the top passage also names the lifted one as written.
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace

from rag.language import current
from rag.text import STOPWORDS, lead_aliases, lead_subject, term_tuple
from rag.types import Candidate

Weight = Callable[[str], float]  # a term's IDF

SOFT_LIFT = 0.5    # share of a name's IDF weight a top passage must hold to lift the passage so named
SOFT_BRIDGE = 0.7  # ... to count as a bridge (the question then needs both passages)
LEAD_LIFT = 0.5    # a lead link is this x the anchor's score x the share of the opening sentence held, or-ed in


@dataclass(frozen=True)
class Lift:
    id: str
    reason: str
    anchor: str | None = None  # the top passage that names the lifted one; None: the question does
    share: float | None = None  # how much of the name the anchor holds in other words; None: as written
    before: float = 0.0  # the score before and after the lift
    after: float = 0.0
    by_name: bool = False  # a name link lifted it (not only the share of its opening sentence a top passage holds)


@dataclass(frozen=True)
class Hop:
    """The second hop's result: new candidates, best first, and why each lifted one rose."""

    ranked: list[Candidate]
    lifts: list[Lift]

_PAREN = re.compile(r"\s*\([^)]*\)\s*$")


def name_of(c: Candidate) -> str:
    """The title, or for a passage without one the subject of its opening sentence."""
    return c.title.strip() or lead_subject(c.text)


def _sections(ranked: list[Candidate], name: dict[str, str]) -> Counter[str]:
    """How many candidates carry each name, counting only those that may be sections of one document
    (a long article cut up), which the name does not single out. Untitled passages opening with one name,
    each from its own source, are entities of that name instead, a top passage may lead to each ("Love
    and Theft" the duo and their album); they are not counted."""
    groups: dict[str, list[Candidate]] = {}
    for c in ranked:
        if name[c.id]:
            groups.setdefault(name[c.id].lower(), []).append(c)
    return Counter({n: len(g) for n, g in groups.items() if not _own_sources(g)})


def _own_sources(group: list[Candidate]) -> bool:
    sources = [c.source for c in group if not c.title.strip() and c.source]
    return len(group) > 1 and len(sources) == len(group) == len(set(sources))


def cut_from_documents(ranked: list[Candidate]) -> bool:
    """Passages given with neither titles nor sources of their own, most of which do not open by naming
    their subject: sections cut from documents, not entity leads. Names from opening words cannot bridge
    them (the name a section opens with is mostly its document's topic, which every section mentions), so
    they get no multi-hop switch (BENCHMARKS.md, session 13: encyclopedic leads open with a subject nearly
    always, paragraphs from inside an article about a third of the time)."""
    if len(ranked) < 2 or any(c.title.strip() for c in ranked) or _own_sources(ranked):
        return False
    return 2 * sum(bool(lead_subject(c.text)) for c in ranked) < len(ranked)


def _names(title: str) -> list[str]:
    t = title.strip().lower().replace("_", " ")
    out = [t]
    short = _PAREN.sub("", t)
    if short != t:
        out.append(short)
    return [n for n in out if len(n) >= 4]


def _mentions(text: str, name: str) -> bool:
    """``name`` occurs in ``text`` not inside a longer word (a regex per name thrashed re's cache)."""
    start = text.find(name)
    while start >= 0:
        end = start + len(name)
        if (start == 0 or not _wordy(text[start - 1])) and (end == len(text) or not _wordy(text[end])):
            return True
        start = text.find(name, start + 1)
    return False


def _wordy(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def second_hop(question: str, ranked: list[Candidate], *, anchors: int = 2, weight: float = 0.9,
               idf: Weight | None = None) -> Hop:
    """Name-linked candidates lifted, as new candidates re-ranked; ``ranked`` is left as it was. With
    ``idf``, a top passage holding most of a name in other words (see the module note) links to it too."""
    work = [replace(c, scores=dict(c.scores)) for c in ranked]
    lifts = _lift(question, work, anchors, weight, idf) if len(work) >= 2 else []
    return Hop(sorted(work, key=lambda c: -c.score), lifts)


def _lift(question: str, ranked: list[Candidate], anchors: int, weight: float, idf: Weight | None) -> list[Lift]:
    """Raise the scores of linked candidates of ``ranked`` (the hop's own copies) in rank order: a lifted
    top passage lifts the ones after it from its new score."""
    name = {c.id: name_of(c) for c in ranked}
    counts = _sections(ranked, name)
    q = question.lower()
    q_terms = set(term_tuple(question))
    tops = ranked[:anchors]
    held = {a.id: _held(a.text) for a in tops} if idf is not None else {}  # once per anchor
    lowered = {a.id: a.text.lower() for a in tops}
    lifted: list[Lift] = []
    for c in ranked:
        shared = not name[c.id] or counts[name[c.id].lower()] > 1
        best, why, anchor, share = (_named(c, name, (question, q), tops, lowered, ranked[0].score, held, q_terms, idf)
                                    if not shared else (0.0, "", None, None))
        target = weight * best
        by_name = bool(why) and target > c.score
        lead = _lead_link(c, tops, held, q_terms, idf) if idf is not None else None
        if lead is not None and lead[0] > max(target, c.score):
            if shared:  # one of several sections of an article: no bridge (see is_multi_hop)
                why, anchor, share = "", lead[1], 0.0
            elif target <= c.score:
                why, anchor, share = "", lead[1], None
            why = (why + "; " if why else "") + f"top passage {lead[1]} holds {lead[2]:.0%} of its opening sentence"
            target = lead[0]
        if target > c.score:
            lifted.append(Lift(c.id, f"score {c.score:.3f} -> {target:.3f}: {why}", anchor, share, c.score, target,
                               by_name))
            c.scores["hop"] = target
            c.score = target
    return lifted


def _named(c: Candidate, name: dict[str, str], question: tuple[str, str], tops: list[Candidate],
           lowered: dict[str, str], best_score: float, held: dict[str, set[str]], q_terms: set[str],
           idf: Weight | None) -> tuple[float, str, str | None, float | None]:
    """The strongest link by name to ``c``: from the question, or from a top passage naming it as written
    or (with ``idf``) holding most of its name's words. ``question`` and the tops' texts (``lowered``, by
    id) come as written and lower-cased."""
    aliases = [a.lower() for a in lead_aliases(_opening(c)) if len(a) >= 4]  # "known as ..."
    names = _names(name[c.id]) + aliases
    best, why, anchor, share = 0.0, "", None, None
    if any(_mentions(question[1], n) for n in names) or _called(question[0], name[c.id]):
        best, why = best_score, f"the question names {name[c.id]!r}"
    for a in tops:
        if a is c or name[a.id].lower() == name[c.id].lower():
            continue
        said = next((n for n in names if _mentions(lowered[a.id], n)), None)
        if said is not None or _called(a.text, name[c.id]):
            if a.score > best:
                best, anchor, share = a.score, a.id, None
                why = f"top passage {a.id} names {name[c.id]!r}" + (f" as {said!r}" if said in aliases else "")
        elif idf is not None:
            part = _share(name[c.id], held[a.id], q_terms, idf)
            if part >= SOFT_LIFT and a.score * part > best:
                best, anchor, share = a.score * part, a.id, part
                why = f"top passage {a.id} holds {part:.0%} of the name {name[c.id]!r}"
    return best, why, anchor, share


def _lead_link(c: Candidate, tops: list[Candidate], held: dict[str, set[str]], q_terms: set[str],
               idf: Weight) -> tuple[float, str, float] | None:
    """The best lift of ``c`` by its opening sentence: (new score, anchor id, share of the opening held)."""
    best = None
    weights = _weights(term_tuple(_opening(c)), idf)  # once, whatever the number of anchors
    for a in tops:
        if a is c or (c.title and a.title == c.title):
            continue  # sections of one article share their words, not a bridge
        part = _share_weights(weights, held[a.id], q_terms)
        # noisy-or of the passage's own score and the link's: still a probability (adding them once gave 1.22)
        lifted = 1 - (1 - c.score) * (1 - LEAD_LIFT * a.score * part)
        if best is None or lifted > best[0]:
            best = (lifted, a.id, part)
    return best


_ADJECTIVE = re.compile(r"\b[A-Z][a-z]{3,}n\b")  # "Tunisian", "Brazilian", "American"


def _held(text: str) -> set[str]:
    """The terms a passage holds, with the place a capitalised adjective names: "the Tunisian national team"
    holds "Tunisia" ("Tunisia national football team"), "Brazilian" holds "Brazil"."""
    held = set(term_tuple(text))
    if not current().encyclopaedia:  # an English rule ("German" is no place "Germ" elsewhere either)
        return held
    roots = {w[:-len(end)] for w in _ADJECTIVE.findall(text) for end in ("n", "an", "ian") if w.endswith(end)}
    return held | {t for r in roots for t in term_tuple(r)}


def _opening(c: Candidate) -> str:
    """A passage's opening sentence: where an encyclopedic passage says what it is about, in all the names
    it goes by ("Clara Ann Fowler, known as Patti Page, ...")."""
    if c.sentences:
        s, e = c.sentences[0]
        return c.text[s:e]
    return c.text[:300]


def _share(name: str, held: set[str], q_terms: set[str], idf: Weight) -> float:
    """The IDF-weighted share of ``name``'s words among the terms ``held`` by a passage."""
    return _share_weights(_weights(term_tuple(_PAREN.sub("", name)), idf), held, q_terms)


def _weights(words: tuple[str, ...], idf: Weight) -> dict[str, float]:
    """Each distinct word's IDF."""
    return {w: idf(w) for w in set(words)}


def _share_weights(weights: dict[str, float], held: set[str], q_terms: set[str]) -> float:
    """The IDF-weighted share of the ``weights``' words among the terms ``held`` by a passage; words the
    question uses count as not found, since they tie every passage to the question, not one to another."""
    total = sum(weights.values())
    if not total:
        return 0.0
    return sum(v for w, v in weights.items() if w in held and w not in q_terms) / total


def _entity(title: str) -> bool:
    """Named like an entity ("Kent Baer", "Speed of Sound"), not a topic ("Reasoning tokens")."""
    words = [w for w in _PAREN.sub("", title).replace("_", " ").split() if len(w) >= 4 or w[:1].isupper()]
    return bool(words) and all(w[:1].isupper() or w[:1].isdigit() for w in words)


def _names_entity(text: str, title: str) -> bool:
    """``text`` names ``title`` as written (case-sensitive), so a common phrase does not count."""
    t = title.strip().replace("_", " ")
    return any(_mentions(text, n) for n in {t, _PAREN.sub("", t)} if len(n) >= 3) or _called(text, t)


def _called(text: str, name: str) -> bool:
    """``text`` names the person ``name`` in a short form: the surname after a capitalised given name
    that begins like the full one, middle names left out ("Tim Kaine", "Nick Park", "Jonny Craig" for
    Timothy Michael Kaine, Nicholas Wulstan Park, Jonathan Monroe Craig). A lead gives the full name; the
    passages that mention the person mostly use the short one."""
    words = _PAREN.sub("", name).split()
    if not current().encyclopaedia or not 2 <= len(words) <= 4 or not all(
            w[:1].isupper() and w.isalpha() for w in words):
        return False
    first, last = words[0], words[-1]
    if len(first) < 3 or len(last) < 3 or first.lower() in STOPWORDS:  # "The Morning Chronicle" is no person
        return False
    start = text.find(last)
    while start >= 0:
        end = start + len(last)
        if start >= 2 and text[start - 1] == " " and (end == len(text) or not _wordy(text[end])):
            given = text[text.rfind(" ", 0, start - 1) + 1:start - 1]
            if given[:1].isupper() and given[:3].lower() == first[:3].lower():
                return True
        start = text.find(last, start + 1)
    return False


def is_multi_hop(question: str, ranked: list[Candidate], lifted: list[Lift]) -> bool:
    """A bridge (a top passage names another candidate, an entity, by its title) or a comparison (the
    question names two such entities). A question about one document, or passages that share a topic
    word with another's title, are not multi-hop: in a technical corpus titles are common phrases.
    """
    return bool(multi_hop_links(question, ranked, lifted))


def multi_hop_links(question: str, ranked: list[Candidate], lifted: list[Lift]) -> list[str]:
    """The passages a multi-hop question reaches by name (see ``is_multi_hop``); [] for any other question.
    Each bridge, and for a comparison the passages about the entities the question names."""
    if cut_from_documents(ranked):
        return []
    by_id = {c.id: c for c in ranked}
    name = {c.id: name_of(c) for c in ranked}
    links = []
    for d in lifted:
        c, anchor = by_id.get(d.id), by_id.get(d.anchor or "")
        if c is None or anchor is None or not _entity(name[c.id]):
            continue
        said = any(_names_entity(anchor.text, n) for n in [name[c.id], *lead_aliases(_opening(c))])
        if d.share is None and said or (d.share or 0.0) >= SOFT_BRIDGE:
            links += [anchor.id, c.id]
    counts = _sections(ranked, name)
    named = {_PAREN.sub("", n).lower(): cid for cid, n in name.items()
             if n and counts[n.lower()] <= 1 and _entity(n) and _names_entity(question, n)}
    # one entity under two titles ("X" and "X (copy)") is still one entity
    links += [cid for a, cid in named.items() if any(a not in b and b not in a for b in named)]
    return list(dict.fromkeys(links))


def named_leads(ranked: list[Candidate], lifts: list[Lift], floor: float) -> dict[str, str | None]:
    """Passages a name link raised from next to nothing (at least twofold, to ``floor`` or more), each with the
    passage that names it (None: the question names it). The question does not resemble such a passage, so
    its sentences score low and the evidence can add up without it; its opening sentence says what the named
    thing is ("The Oklahoma Sooners men's basketball team represents ..." for "At Oklahoma, McNatt led his
    team"). None for sections of documents, whose names are their document's topic (see
    ``cut_from_documents``)."""
    if cut_from_documents(ranked):
        return {}
    return {d.id: d.anchor for d in lifts if d.by_name and d.after >= floor and d.after >= 2 * d.before}


def openings_first(ranked: list[Candidate], linked: list[str]) -> list[Candidate]:
    """The candidates again, with the sentences that carry a hop scored as high as their passage's best
    sentence (new candidates where that changes a score): in each linked passage, its opening sentence
    (what its subject is: it scores low against a question that never names the subject, "Timothy Michael
    Kaine (born 1958) is ... Senator from Virginia") and any sentence naming another linked passage's
    subject (the link itself: "Park ... won four with Creature Comforts")."""
    ids = set(linked)
    names = {c.id: name_of(c) for c in ranked if c.id in ids}
    out = []
    for c in ranked:
        scores = c.sentence_scores
        if c.id in ids and len(scores) > 1:
            others = [n for cid, n in names.items() if cid != c.id and n]
            top = max(scores)
            raised = [top if i == 0 or any(_names_entity(c.text[s:e], n) for n in others) else sc
                      for i, ((s, e), sc) in enumerate(zip(c.sentences, scores, strict=False))]
            if raised != scores:
                c = replace(c, sentence_scores=raised)
        out.append(c)
    return out
