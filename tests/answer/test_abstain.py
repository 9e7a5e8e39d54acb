"""Whether a context is worth a model call: the learned rule, the passage floor, and text the
scorers cannot judge (rag/answer/abstain.py)."""
from __future__ import annotations

from dataclasses import replace

from rag.types import Context, Passage, Trace


def _quokka_context(question: str, answer: float, passage: float) -> Context:
    text = "Quokkas live on Rottnest Island. They are marsupials."
    p = Passage("q", "q", "q.md", "", text, passage, [(0, len(text))], 12,
                sentences=[(0, 32, answer), (33, len(text), 0.01)])
    return Context(question, [p], 12, Trace())


def test_the_learned_rule_abstains_on_a_weak_context_and_answers_a_strong_one() -> None:
    from rag.answer.abstain import nothing_to_read
    from rag.settings import Settings

    s = Settings(store_path="/nonexistent")
    assert s.abstain.abstain_learned_above is not None  # the default judges questions by the learned model

    def why(question: str, answer: float, passage: float, **overrides: object) -> str:
        return nothing_to_read(_quokka_context(question, answer, passage), s.replace(**overrides))

    weak = why("Do quokkas live on Tasmania?", 0.03, 0.15)
    assert "abstain_learned_above" in weak and "never mentions 'Tasmania'" in weak
    assert why("Do quokkas live on Rottnest Island?", 0.8, 0.7) == ""
    assert why("Do quokkas live on Tasmania?", 0.03, 0.15, abstain_below=None) == ""  # call anyway
    assert why("Do quokkas live on Tasmania?", 0.03, 0.15, abstain_learned_above=1.0) == ""
    # a claim is judged by the passage score alone, whatever its sentences score
    assert why("Quokkas live on Tasmania.", 0.03, 0.15) == ""
    assert "abstain_below" in why("Quokkas live on Tasmania.", 0.03, 0.05)


def test_outside_english_scores_do_not_abstain() -> None:
    """The scorers' probabilities are English: on XQuAD German and Spanish the learned rule refused 14-26% of
    answerable questions and the passage floor 4-8%. Text in another language is always answered."""
    from rag.answer.abstain import nothing_to_read
    from rag.settings import Settings

    s = Settings(store_path="/nonexistent", language="de")
    weak = _quokka_context("Wo leben Quokkas?", 0.01, 0.05)
    assert nothing_to_read(weak, s) == ""
    assert "abstain_below" in nothing_to_read(weak, s.replace(language="en"))  # English: judged
    # English assumed (the default) but German text: not judged either
    text = "Quokkas leben auf der Insel Rottnest vor der Küste Westaustraliens."
    weak.passages[0] = replace(weak.passages[0], text=text, spans=[(0, len(text))], sentences=[(0, len(text), 0.01)])
    assert nothing_to_read(weak, s.replace(language="en")) == ""


def test_the_learned_probability_falls_as_the_evidence_grows() -> None:
    from rag.answer.abstain import unanswerable

    def p(answer: float, passage: float, question: str = "Where do quokkas live?") -> float:
        return unanswerable(_quokka_context(question, answer, passage))

    assert p(0.05, 0.3) > p(0.2, 0.3) > p(0.6, 0.3)      # a better answering sentence
    assert p(0.1, 0.1) > p(0.1, 0.6)                      # a more relevant passage
    assert p(0.1, 0.3, "Do quokkas live on Tasmania?") > p(0.1, 0.3, "Do quokkas live on Rottnest Island?")
    assert all(0.0 < v < 1.0 for v in (p(0.001, 0.001), p(0.999, 0.999)))


def test_the_abstain_model_is_trained_on_its_declared_features_and_four_sets() -> None:
    import json

    from rag.answer.abstain import ABSTAIN_FEATURES, WEIGHTS_FILE

    model = json.loads(WEIGHTS_FILE.read_text())["abstain"]
    assert tuple(model["features"]) == ABSTAIN_FEATURES
    assert len(model["coef"]) == len(model["mean"]) == len(model["scale"]) == len(ABSTAIN_FEATURES)
    # single-hop and multi-hop contexts both teach it, and the default threshold is the one chosen for it
    assert set(model["trained_on"]) == {"squad", "hotpotqa", "hotpotqa-train", "musique-train"}
    assert all(n["answerable"] > 0 and n["not_answerable"] > 0 for n in model["trained_on"].values())
    from rag import Settings

    assert Settings().abstain.abstain_learned_above == model["threshold"]


def test_without_the_learned_rule_the_passage_score_alone_decides() -> None:
    from rag.answer.abstain import nothing_to_read
    from rag.settings import Settings

    s = Settings(store_path="/nonexistent")

    def why(question: str, answer: float, passage: float, **overrides: object) -> str:
        return nothing_to_read(_quokka_context(question, answer, passage), s.replace(**overrides))

    assert "abstain_learned_above" in why("Do quokkas live on Tasmania?", 0.03, 0.15)
    assert "abstain_learned_above" in why("in what year did quokkas reach tasmania", 0.03, 0.15)  # no "?" needed
    assert why("Do quokkas live on Tasmania?", 0.03, 0.15, abstain_learned_above=None) == ""  # passage 0.15
    low = why("Do quokkas live on Tasmania?", 0.03, 0.05, abstain_learned_above=None)
    assert "abstain_below 0.1" in low and "abstain_learned_above" not in low
    assert why("Do quokkas live on Tasmania?", 0.03, 0.05, abstain_below=None) == ""  # the caller asks anyway
    text = "Quokkas live on Rottnest Island. They are marsupials."
    unscored = Context("How long do quokkas live?", [Passage("q", "q", "q.md", "", text, 0.6, [(0, len(text))], 12)],
                       12, Trace())
    assert nothing_to_read(unscored, s) == ""  # no sentence scores: nothing to judge by


def test_the_names_a_context_never_mentions() -> None:
    from rag.text import unmentioned_names

    text = "Quokkas live on Rottnest Island. They are marsupials."
    assert unmentioned_names("Do quokkas live on Tasmania?", text) == ["Tasmania"]
    assert unmentioned_names("Did quokkas reach Rottnest Island in 1850?", text) == ["1850"]
    assert unmentioned_names("Do quokkas live on Rottnest Island?", text) == []  # every name is there
    assert unmentioned_names("Do quokkas live on Rottnes Island?", text) == []   # a one-letter slip names it


def test_abstention_is_a_stage_with_its_line_in_the_trace() -> None:
    from rag.answer.abstain import Abstain
    from rag.settings import Settings

    weak = _quokka_context("Do quokkas live on Tasmania?", 0.03, 0.15)
    why, line = Abstain(Settings()).run(weak)
    assert why and line.name == "abstain" and line.note.startswith("abstained: ") and line.n_out == 0
    strong = _quokka_context("Do quokkas live on Rottnest Island?", 0.8, 0.7)
    why, line = Abstain(Settings()).run(strong)
    assert why == "" and (line.n_in, line.n_out, line.tokens_out) == (1, 1, 12) and "model is called" in line.note
    assert Abstain(Settings(abstain_below=None)).run(weak)[1].note.startswith("off (abstain_below=None)")
