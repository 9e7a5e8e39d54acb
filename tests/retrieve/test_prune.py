from __future__ import annotations

import numpy as np
import pytest

from rag.retrieve.prune import Pruner
from rag.stage_settings import PruneSettings
from rag.text import sentence_spans
from rag.types import Candidate


def words(text: str) -> int:
    return len(text.split())


def cand(cid: str, score: float, text: str, sentence_scores: list[float] | None = None) -> Candidate:
    spans = sentence_spans(text)
    return Candidate(cid, text, doc_id=cid, source=f"{cid}.txt", start=100, end=100 + len(text), score=score,
                     sentences=spans, sentence_scores=sentence_scores if sentence_scores is not None
                     else [score] * len(spans))


# Every step off, and the sentence and evidence knobs these tests were written with (not the service's).
OFF = dict(min_score=None, adaptive_cut=False, dedup_threshold=None, sentence_prune=False, token_budget=None,
           max_passages=None, sentence_min_score=0.05, weak_passage_floor=None, evidence_mass=None,
           evidence_siblings=None)


def run(cands, vectors=None, **cfg):  # noqa: ANN001, ANN201
    passages, trace = Pruner(PruneSettings(**{**OFF, **cfg}), words).run(cands, vectors)
    return passages, {t.name: t for t in trace}


def test_no_candidates_gives_an_empty_context_without_error() -> None:
    passages, trace = run([], min_score=0.5, adaptive_cut=True, sentence_prune=True, token_budget=10)
    assert passages == [] and all(t.n_out == 0 for t in trace.values())


def test_threshold_drops_low_scores_with_reasons() -> None:
    passages, trace = run([cand("a", 0.9, "Alpha one."), cand("b", 0.1, "Beta two.")], min_score=0.5)
    assert [p.id for p in passages] == ["a"]
    assert trace["threshold"].dropped[0].id == "b" and "< min_score 0.5" in trace["threshold"].dropped[0].reason


def test_all_below_threshold_keeps_the_best_unless_empty_is_allowed() -> None:
    cands = [cand("a", 0.2, "Alpha."), cand("b", 0.3, "Beta.")]
    passages, trace = run(cands, min_score=0.9)
    assert [p.id for p in passages] == ["b"] and "kept the best" in trace["threshold"].note
    passages, _ = run([cand("a", 0.2, "Alpha."), cand("b", 0.3, "Beta.")], min_score=0.9, allow_empty=True)
    assert passages == []


def test_relative_and_adaptive_cuts() -> None:
    cands = [cand("a", 0.95, "A."), cand("b", 0.9, "B."), cand("c", 0.3, "C."), cand("d", 0.25, "D.")]
    passages, trace = run(cands, adaptive_cut=True)
    assert [p.id for p in passages] == ["a", "b"] and "largest gap 0.600" in trace["cutoff"].note
    passages, _ = run([cand("a", 0.95, "A."), cand("b", 0.9, "B."), cand("c", 0.3, "C.")], relative_cut=0.5)
    assert [p.id for p in passages] == ["a", "b"]
    # no gap of 0.25 or more: nothing is cut
    passages, _ = run([cand("a", 0.9, "A."), cand("b", 0.7, "B.")], adaptive_cut=True)
    assert len(passages) == 2


def test_ties_keep_input_order_and_are_not_cut() -> None:
    cands = [cand("x", 0.5, "X."), cand("y", 0.5, "Y."), cand("z", 0.5, "Z.")]
    passages, _ = run(cands, adaptive_cut=True, min_score=0.5)
    assert [p.id for p in passages] == ["x", "y", "z"]


def test_near_duplicates_and_identical_texts_are_removed() -> None:
    v = np.array([1.0, 0.0]), np.array([0.999, 0.0447]), np.array([0.0, 1.0])
    cands = [cand("a", 0.9, "Alpha text."), cand("b", 0.8, "Alpha text, reworded."), cand("c", 0.7, "Other."),
             cand("d", 0.6, "Alpha text.")]
    passages, trace = run(cands, {"a": v[0], "b": v[1], "c": v[2]}, dedup_threshold=0.95)
    assert [p.id for p in passages] == ["a", "c"]
    assert {d.id for d in trace["dedup"].dropped} == {"b", "d"}
    assert "near-duplicate of a" in trace["dedup"].dropped[0].reason


def test_mmr_reorders_away_from_redundancy() -> None:
    v = {"a": np.array([1.0, 0.0]), "b": np.array([1.0, 0.0]), "c": np.array([0.0, 1.0])}
    cands = [cand("a", 0.9, "A."), cand("b", 0.85, "B."), cand("c", 0.6, "C.")]
    passages, _ = run(cands, v, mmr_lambda=0.5)
    assert [p.id for p in passages] == ["a", "c", "b"]


def test_sentence_pruning_keeps_offsets_and_neighbours() -> None:
    text = "Zero is here. One answers it. Two is noise. Three is noise too."
    c = cand("a", 0.9, text, [0.01, 0.9, 0.02, 0.01])
    passages, trace = run([c], sentence_prune=True, sentence_min_score=0.5)
    p = passages[0]
    assert p.text == "One answers it."
    (s, e), = p.spans
    assert text[s - 100:e - 100] == "One answers it."  # source offsets: candidate start + sentence offsets
    assert "3 sentence(s) removed" in trace["sentences"].note
    passages, _ = run([cand("a", 0.9, text, [0.01, 0.9, 0.02, 0.01])], sentence_prune=True,
                      sentence_min_score=0.5, sentence_neighbors=1)
    assert passages[0].text == "Zero is here. One answers it. Two is noise."


def test_passage_with_no_sentence_left_is_dropped_not_an_error() -> None:
    cands = [cand("a", 0.9, "Good one. Also good.", [0.8, 0.7]), cand("b", 0.5, "Weak. Weaker.", [0.01, 0.02])]
    passages, trace = run(cands, sentence_prune=True, sentence_min_score=0.5)
    assert [p.id for p in passages] == ["a"]
    assert "no sentence scored" in trace["sentences"].dropped[0].reason
    # every sentence fails: the single best sentence survives, never an empty context
    passages, trace = run([cand("b", 0.5, "Weak. Weaker.", [0.01, 0.02])], sentence_prune=True,
                          sentence_min_score=0.5)
    assert [p.text for p in passages] == ["Weaker."]


def test_a_weak_passage_keeps_only_sentences_that_clear_the_floor_themselves() -> None:
    cands = [cand("a", 0.6, "Answer here. Weak aside.", [0.5, 0.025]),
             cand("b", 0.01, "Filler one. Filler two. A real hint.", [0.025, 0.02, 0.04])]
    passages, trace = run(cands, sentence_prune=True, sentence_min_score=0.02, weak_passage_floor=0.03)
    assert [p.text for p in passages] == ["Answer here. Weak aside.", "A real hint."]  # "a" is not weak
    passages, trace = run(cands[:1] + [cand("c", 0.01, "Filler.", [0.025])], sentence_prune=True,
                          sentence_min_score=0.02, weak_passage_floor=0.03)
    assert [p.id for p in passages] == ["a"]
    assert "no sentence scored >= 0.03 in a passage scoring 0.010" in trace["sentences"].dropped[0].reason
    passages, _ = run(cands, sentence_prune=True, sentence_min_score=0.02)  # off: every sentence >= 0.02 stays
    assert passages[1].text == "Filler one. Filler two. A real hint."


def test_budget_packs_by_relevance_and_cuts_a_huge_passage_at_sentences() -> None:
    huge = " ".join(f"Sentence {i} has five words." for i in range(40))
    scores = [0.1] * 40
    scores[7] = 0.9
    scores[30] = 0.8
    passages, trace = run([cand("h", 0.9, huge, scores)], token_budget=12)
    assert passages and passages[0].tokens <= 12
    assert passages[0].text == "Sentence 7 has five words. Sentence 30 has five words."
    assert trace["budget"].tokens_out <= 12 < trace["budget"].tokens_in


def test_budget_smaller_than_any_sentence_truncates_the_best_one() -> None:
    c = cand("a", 0.9, "This single sentence is much longer than the budget allows.", [0.9])
    passages, trace = run([c], token_budget=4)
    assert passages[0].text == "This single sentence is" and passages[0].tokens == 4
    assert "cut to the 4-token budget" in trace["budget"].note


def test_context_is_never_longer_than_its_input() -> None:
    rng = np.random.default_rng(0)
    for trial in range(30):
        cands = [cand(f"c{i}", float(rng.random()), " ".join(f"Word{j} w{i}." for j in range(int(rng.integers(1, 9)))),
                      None) for i in range(int(rng.integers(1, 8)))]
        for c in cands:
            c.sentence_scores = [float(x) for x in rng.random(len(c.sentences))]
        total = words("\n\n".join(c.text for c in cands))
        passages, trace = run(cands, min_score=0.3, adaptive_cut=True, dedup_threshold=0.9, sentence_prune=True,
                              sentence_min_score=0.4, token_budget=int(rng.integers(1, 30)), max_passages=3)
        out = words("\n\n".join(p.text for p in passages))
        assert 0 < out <= total, trial
        assert len(passages) <= 3
        for t in trace.values():
            assert t.tokens_out <= t.tokens_in and t.n_out <= t.n_in


def test_max_passages() -> None:
    passages, trace = run([cand(c, s, f"{c}.") for c, s in (("a", .9), ("b", .8), ("c", .7))], max_passages=2)
    assert [p.id for p in passages] == ["a", "b"] and trace["max_passages"].dropped[0].reason == "beyond max_passages=2"


@pytest.mark.parametrize("budget", [1, 2, 3])
def test_tiny_budgets_never_crash(budget: int) -> None:
    passages, _ = run([cand("a", 0.9, "Alpha beta gamma. Delta epsilon.")], token_budget=budget, sentence_prune=True,
                      sentence_min_score=0.0)
    assert passages and passages[0].tokens <= budget


def test_evidence_mass_stops_when_the_evidence_is_enough() -> None:
    sure = cand("a", 0.9, "Paris is the capital. It is large. It has a river.", [0.95, 0.1, 0.05])
    other = cand("b", 0.5, "Lyon is a city. It has food.", [0.2, 0.1])
    passages, trace = run([sure, other], sentence_prune=True, sentence_min_score=0.0, token_budget=100,
                          evidence_mass=0.9)
    assert [p.text for p in passages] == ["Paris is the capital."]
    assert "evidence enough" in trace["budget"].note
    assert trace["budget"].dropped[0].reason == "not needed: the evidence was enough"


def test_weak_evidence_keeps_adding_up_to_the_ceiling() -> None:
    weak = [cand(c, 0.3, f"Fact {c} one. Fact {c} two.", [0.2, 0.1]) for c in "abc"]
    lean, _ = run(weak, sentence_prune=True, sentence_min_score=0.0, token_budget=100, evidence_mass=0.25)
    more, trace = run(weak, sentence_prune=True, sentence_min_score=0.0, token_budget=100, evidence_mass=0.9)
    capped, capped_trace = run(weak, sentence_prune=True, sentence_min_score=0.0, token_budget=7,
                               evidence_mass=5.0)
    assert sum(words(p.text) for p in lean) < sum(words(p.text) for p in more)
    assert sum(words(p.text) for p in capped) <= 7 and "token ceiling 7 reached" in capped_trace["budget"].note


def test_evidence_goes_on_until_the_question_terms_are_covered() -> None:
    a = cand("a", 0.9, "The film was directed by Ann Lee. It won prizes.", [0.9, 0.1])
    b = cand("b", 0.3, "Ann Lee was born in Leeds. She paints.", [0.05, 0.01])
    terms = {"film": 1.0, "direct": 1.0, "born": 2.0}
    cfg = dict(min_score=None, adaptive_cut=False, dedup_threshold=None, sentence_prune=True,
               sentence_min_score=0.0, token_budget=100, max_passages=None, evidence_mass=0.5,
               weak_passage_floor=None, evidence_siblings=None)
    without, _ = Pruner(PruneSettings(**cfg), words, {}).run([a, b])
    with_cover, _ = Pruner(PruneSettings(**cfg), words, terms).run([a, b])
    assert [p.id for p in without] == ["a"]
    assert "born in Leeds" in " ".join(p.text for p in with_cover)


def test_a_question_about_two_names_keeps_evidence_on_both() -> None:
    from rag.retrieve.features import Idf
    from rag.retrieve.profile import cover_terms
    from rag.settings import Settings

    craig = cand("a", 0.9, "Jonny Craig sang in three bands. He lives in Canada.", [0.95, 0.1])
    doherty = cand("b", 0.2, "Pete Doherty fronted The Libertines. He paints.", [0.06, 0.01])
    bread = cand("c", 0.1, "Bread needs flour. It needs salt.", [0.01, 0.01])
    idf = Idf.from_texts([c.text for c in (craig, doherty, bread)])
    q = "Which of Jonny Craig and Pete Doherty has been a member of more bands?"
    assert set(cover_terms(q, idf, Settings())) == {"jonni", "craig", "pete", "doherti"}
    assert "band" in cover_terms(q, idf, Settings(evidence_cover=True))
    assert cover_terms(q, idf, Settings(cover_names=False)) == {}

    def kept(s: Settings) -> str:
        passages, _ = Pruner(s.prune, words, cover_terms(q, idf, s)).run([craig, doherty, bread])
        return " ".join(p.text for p in passages)

    assert "Doherty" not in kept(Settings(cover_names=False))
    both = kept(Settings())
    assert "Jonny Craig" in both and "Pete Doherty" in both and "flour" not in both


def test_the_budget_holds_when_joins_cost_more_than_the_sentence_sums_suggest() -> None:
    # A counter whose passage joins cost 10 tokens each: the cheap estimate (the sum of the sentences'
    # counts) admits the second passage, and the exact re-check must take it back out.
    def join_heavy(text: str) -> int:
        return words(text) + 10 * text.count("\n\n")

    cands = [cand("a", 0.9, "Alpha beta gamma delta."), cand("b", 0.8, "Epsilon zeta eta theta.")]
    cfg = PruneSettings(**{**OFF, "token_budget": 12})
    pruner = Pruner(cfg, join_heavy)
    passages, trace = pruner.run(cands)
    assert [p.id for p in passages] == ["a"]
    assert join_heavy("\n\n".join(p.text for p in passages)) <= 12
    assert "token ceiling 12" in pruner.stop_reason
    # with an additive counter both fit, so the re-check is what removed "b"
    assert [p.id for p in Pruner(cfg, words).run(cands)[0]] == ["a", "b"]


def test_evidence_siblings_keep_the_near_misses_of_a_kept_passage() -> None:
    """Once the evidence is enough, a kept passage keeps each sentence scoring >= the ratio x its best: the
    answer next to the best evidence; a weak sentence and other passages stay out, and the budget holds."""
    best = cand("a", 0.9, "Manning was 39. Elway was 38 in his last game. The game was in 1999.", [0.8, 0.45, 0.1])
    other = cand("b", 0.5, "The stadium is in Santa Clara.", [0.3])
    cfg = dict(sentence_prune=True, sentence_min_score=0.0, token_budget=100, evidence_mass=0.75)
    lean, _ = run([best, other], **cfg)
    more, trace = run([best, other], **cfg, evidence_siblings=0.5)
    assert [p.text for p in lean] == ["Manning was 39."]
    assert [p.text for p in more] == ["Manning was 39. Elway was 38 in his last game."]
    assert "kept 1 more sentence(s)" in trace["budget"].note and "evidence enough" in trace["budget"].note
    capped, _ = run([best, other], **{**cfg, "token_budget": 5}, evidence_siblings=0.5)
    assert sum(words(p.text) for p in capped) <= 5


def test_a_lead_named_by_a_kept_passage_keeps_its_opening_sentence() -> None:
    """Once the evidence is enough, a passage a kept passage names (hop.named_leads) keeps its opening
    sentence: it says what the named thing is, which the question never resembles."""
    top = cand("t", 0.9, "At Oklahoma, McNatt led his team in 1939. He was fast.", [0.9, 0.3])
    team = cand("s", 0.4, "The Oklahoma Sooners team represents the university. It plays in Norman.", [0.02, 0.03])
    other = cand("o", 0.3, "Quokkas are small. They live on islands.", [0.02, 0.02])
    cfg = PruneSettings(**{**OFF, "token_budget": 100, "evidence_mass": 0.875, "evidence_siblings": None})

    def kept(leads: dict[str, str | None] | None) -> tuple[str, str]:
        pruner = Pruner(cfg, words, leads=leads)
        passages, _ = pruner.run([top, team, other])
        return " ".join(p.text for p in passages), pruner.stop_reason

    text, stop = kept(None)
    assert "Sooners" not in text and "evidence enough" in stop
    text, stop = kept({"s": "t"})
    assert "The Oklahoma Sooners team represents the university." in text and "Norman" not in text
    assert "kept the opening sentence of s (named by t)" in stop and "Quokkas" not in text
    assert "Sooners" not in kept({"s": "o"})[0]  # named by a passage that was not kept
    assert "Sooners" in kept({"s": None})[0]  # named by the question
    tight = PruneSettings(**{**OFF, "token_budget": 10, "evidence_mass": 0.875, "evidence_siblings": None})
    assert "Sooners" not in " ".join(p.text for p in Pruner(tight, words, leads={"s": "t"}).run([top, team])[0])


def test_passage_weight_ranks_a_bridge_passages_plain_sentence_above_a_stray_strong_one() -> None:
    """A passage the hop lifted (score 0.3) holds the fact in a sentence that scores low on its own; with
    passage_weight its passage's score counts, so it beats a stray sentence of a passage nothing points to."""
    top = cand("a", 0.9, "Cold Comfort was an SAS raid.", [0.9])
    bridge = cand("b", 0.3, "The SAS is a British unit. The SAS was founded in 1941.", [0.03, 0.04])
    stray = cand("c", 0.01, "Special forces units train hard.", [0.08])
    cfg = dict(sentence_prune=True, sentence_min_score=0.0, token_budget=12)

    def text(**extra: float) -> str:
        return " ".join(p.text for p in run([top, bridge, stray], **cfg, **extra)[0])

    assert "Special forces" in text() and "1941" not in text()
    weighted = text(passage_weight=0.3)
    assert "The SAS was founded in 1941." in weighted and "Special forces" not in weighted
    assert "British unit" not in weighted and words(weighted) <= 12


def test_multi_hop_pruning_weighs_the_passage_score() -> None:
    from rag.retrieve.profile import multi_hop_settings
    from rag.settings import Settings

    s = Settings()
    assert s.prune.passage_weight == 0.0
    assert multi_hop_settings(s).prune.passage_weight == pytest.approx(0.3)
