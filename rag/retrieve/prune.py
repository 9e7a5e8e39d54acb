"""Pruning: from ranked, calibrated candidates to the few passages (or sentences) that matter.

Steps, in order, each a toggle and each recording what it dropped and why:
threshold -> relative / adaptive cut -> de-duplication or MMR -> sentence pruning -> token budget ->
maximum passages. No step ever empties the context unless ``allow_empty`` is set, and the context is
never longer than its input: pruning only removes text.
"""
from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from rag.retrieve.selection import Selection, added_texts, pairwise_cosines
from rag.stage_settings import PruneSettings
from rag.text import term_tuple
from rag.types import Candidate, Drop, Passage, StageTrace

Count = Callable[[str], int]
# The adaptive cut looks for the largest score gap among the top eight, and cuts only at a gap this wide.
ADAPTIVE_WINDOW = 8
ADAPTIVE_MIN_GAP = 0.25


class Pruner:
    """Pruning as the prune group configures it (``settings.prune``, or the multi-hop profile's).

    ``question_terms`` (term -> IDF): with ``evidence_mass``, selection goes on until every one found among
    the candidates is covered (``profile.cover_terms``: the question's names and numbers, or with
    ``evidence_cover`` all its terms)."""

    def __init__(self, config: PruneSettings, count: Count, question_terms: dict[str, float] | None = None, *,
                 leads: dict[str, str | None] | None = None) -> None:
        self.cfg = config
        self._count = count
        self._cache: dict[str, int] = {}
        self.q_terms = question_terms or {}  # term -> IDF: what coverage is measured against
        # With evidence_mass, once the evidence is enough: passages whose opening sentence is kept when the
        # passage naming them is (id -> its id; None: the question names it). See hop.named_leads.
        self.leads = leads or {}
        self.stop_reason = ""

    def count(self, text: str) -> int:
        n = self._cache.get(text)
        if n is None:
            n = self._cache[text] = self._count(text)
        return n

    def tokens(self, items: list[Selection]) -> int:
        """Tokens of the context these items make. A pool far over the budget is sized as the sum of its
        passages, or of the kept sentences of a pruned one (counted at ingest, or once and cached):
        re-tokenising 50 joined passages at every stage cost more than the rest of pruning. Near the
        budget the joined context is counted."""
        kept = [i for i in items if i.keep]
        if len(kept) > 1 and self.cfg.token_budget is not None:
            total = sum(self._size(i) for i in kept) + len(kept) - 1
            if total > 2 * self.cfg.token_budget:
                return total
        return self.count("\n\n".join(i.text() for i in kept))

    def _size(self, item: Selection) -> int:
        """An item's tokens: its passage's count while it is whole, else the sum of its kept sentences'
        (a space between two sentences mostly costs none), never more than the whole passage."""
        c = item.cand
        whole = self.count(c.text)
        if not c.sentences or len(item.keep) == len(c.sentences):
            return whole
        return min(whole, sum(self.count(t) for t in item.sentence_texts()))

    def _fits(self, items: list[Selection], budget: int, estimate: int, parts: int) -> bool:
        """Whether the context these items make fits ``budget``. Joining two texts moves the token count
        by a token or two at the join (SciFact: -2..+2, 97% of joins by none), so ``estimate`` (the sum of
        the ``parts`` kept sentences' own counts, cached across questions) decides unless it lies within
        two tokens per join of the budget; only then is the joined context counted. ``budget`` re-checks
        its result exactly."""
        slack = 2 * max(parts - 1, 0)
        if estimate + slack <= budget:
            return True
        if estimate - slack > budget:
            return False
        return self.tokens(items) <= budget

    # ------------------------------------------------------------------------------------
    def run(self, candidates: list[Candidate], vectors: dict[str, np.ndarray] | None = None
            ) -> tuple[list[Passage], list[StageTrace]]:
        vectors = vectors or {}
        items = [Selection(c, list(range(len(c.sentences))) if c.sentences else [0], vectors.get(c.id))
                 for c in sorted(candidates, key=lambda c: -c.score)]
        steps: list[tuple[str, Callable[[list[Selection]], tuple[list[Selection], list[Drop], str]]]] = []
        cfg = self.cfg
        if cfg.min_score is not None:
            steps.append(("threshold", self.threshold))
        if cfg.relative_cut is not None or cfg.adaptive_cut:
            steps.append(("cutoff", self.cutoff))
        if cfg.dedup_threshold is not None or cfg.mmr_lambda is not None:
            steps.append(("dedup", self.dedup))
        if cfg.sentence_prune:
            steps.append(("sentences", self.sentences))
        if cfg.token_budget is not None or cfg.evidence_mass is not None:
            steps.append(("budget", self.budget))
        if cfg.max_passages is not None:
            steps.append(("max_passages", self.max_passages))
        traces = []
        for name, step in steps:
            t0 = time.perf_counter()
            before, tok_in = len(items), self.tokens(items)
            items, dropped, note = step(items)
            items = [i for i in items if i.keep]
            traces.append(StageTrace(name, before, len(items), tok_in, self.tokens(items),
                                     round((time.perf_counter() - t0) * 1000, 2), dropped, note))
        return [self._passage(i) for i in items], traces

    def _passage(self, item: Selection) -> Passage:
        c = item.cand
        text = item.text()
        sents = c.sentences or [(0, len(c.text))]
        scores = c.sentence_scores if len(c.sentence_scores) == len(sents) else [c.score] * len(sents)
        return Passage(id=c.id, doc_id=c.doc_id, source=c.source, title=c.title, text=text,
                       score=round(c.score, 4), spans=[(c.start + s, c.start + e) for s, e in item.runs()],
                       tokens=self.count(text),
                       sentences=[(c.start + sents[i][0], c.start + sents[i][1], round(scores[i], 4))
                                  for i in item.keep])

    def _floor(self, items: list[Selection], kept: list[Selection], note: str) -> tuple[list[Selection], str]:
        """Never empty unless allowed: the best item survives every cut."""
        if kept or not items or self.cfg.allow_empty:
            return kept, note
        return [items[0]], (note + "; " if note else "") + "kept the best passage although it failed the cut"

    # ---- steps --------------------------------------------------------------------------
    def threshold(self, items: list[Selection]) -> tuple[list[Selection], list[Drop], str]:
        t = self.cfg.min_score or 0.0
        kept = [i for i in items if i.score >= t]
        kept, note = self._floor(items, kept, "")
        dropped = [Drop(i.cand.id, f"score {i.score:.3f} < min_score {t}") for i in items if i not in kept]
        return kept, dropped, note

    def cutoff(self, items: list[Selection]) -> tuple[list[Selection], list[Drop], str]:
        if not items:
            return items, [], ""
        best = items[0].score
        dropped: list[Drop] = []
        kept = items
        notes = []
        if self.cfg.relative_cut is not None:
            limit = self.cfg.relative_cut * best
            dropped += [Drop(i.cand.id, f"score {i.score:.3f} < {self.cfg.relative_cut} x best {best:.3f}")
                        for i in kept if i.score < limit]
            kept = [i for i in kept if i.score >= limit]
        if self.cfg.adaptive_cut and len(kept) > 1:
            window = kept[:ADAPTIVE_WINDOW]
            gaps = [window[j].score - window[j + 1].score for j in range(len(window) - 1)]
            j = int(np.argmax(gaps))
            if gaps[j] >= ADAPTIVE_MIN_GAP:
                cut = window[j + 1].score
                notes.append(f"largest gap {gaps[j]:.3f} after rank {j + 1}")
                dropped += [Drop(i.cand.id, f"below the largest score gap (score {i.score:.3f} <= {cut:.3f})")
                            for i in kept[j + 1:]]
                kept = kept[:j + 1]
        kept, note = self._floor(items, kept, "; ".join(notes))
        return kept, [d for d in dropped if d.id not in {i.cand.id for i in kept}], note

    def dedup(self, items: list[Selection]) -> tuple[list[Selection], list[Drop], str]:
        tau = self.cfg.dedup_threshold
        if self.cfg.mmr_lambda is not None:
            items = self._mmr(items)
        if tau is None:
            return items, [], "mmr order" if self.cfg.mmr_lambda is not None else ""
        sims, has = pairwise_cosines(items)
        kept: list[int] = []
        by_text: dict[str, int] = {}  # stripped text -> its place in ``kept``
        dropped: list[Drop] = []
        for i, it in enumerate(items):
            # the first kept item that is a near-duplicate by vector or the same text
            close = np.flatnonzero(sims[i, kept] >= tau)  # a row without a vector is -inf throughout
            place = min(int(close[0]) if len(close) else len(kept), by_text.get(it.cand.text.strip(), len(kept)))
            if place == len(kept):
                by_text[it.cand.text.strip()] = len(kept)
                kept.append(i)
                continue
            j = kept[place]
            sim = float(sims[i, j]) if has[i] and has[j] else 1.0
            dropped.append(Drop(it.cand.id, f"near-duplicate of {items[j].cand.id} (cosine {sim:.3f} >= {tau})"))
        return [items[i] for i in kept], dropped, "mmr order" if self.cfg.mmr_lambda is not None else ""

    def _mmr(self, items: list[Selection]) -> list[Selection]:
        lam = float(self.cfg.mmr_lambda or 0.0)
        rest, order = list(items), list[Selection]()
        while rest:
            def value(it: Selection) -> float:
                if not order or it.vector is None:
                    return it.score
                sim = max(float(it.vector @ o.vector) for o in order if o.vector is not None) if any(
                    o.vector is not None for o in order) else 0.0
                return lam * it.score - (1 - lam) * sim
            nxt = max(rest, key=value)
            order.append(nxt)
            rest.remove(nxt)
        return order

    def sentences(self, items: list[Selection]) -> tuple[list[Selection], list[Drop], str]:
        t = self.cfg.sentence_min_score
        n = self.cfg.sentence_neighbors
        dropped: list[Drop] = []
        kept_items: list[Selection] = []
        dropped_sentences = 0
        best_item, best_idx, best_score = None, -1, -1.0
        for it in items:
            scores = it.cand.sentence_scores
            if not scores:
                kept_items.append(it)
                continue
            for i, s in enumerate(scores):
                if s > best_score:
                    best_item, best_idx, best_score = it, i, s
            # A near-zero sentence of a near-zero passage is filler, while a weak sentence of a relevant
            # passage (a bridge, an answer beside the best sentence) is not.
            floor, weak = t, self.cfg.weak_passage_floor
            if weak is not None and it.score < weak:
                floor = max(t, weak)
            chosen = {i for i, s in enumerate(scores) if s >= floor}
            for i in list(chosen):
                chosen.update(j for j in range(i - n, i + n + 1) if 0 <= j < len(scores))
            dropped_sentences += len(scores) - len(chosen)
            it.keep = sorted(chosen)
            it.unit_scores = {i: scores[i] for i in it.keep}
            if it.keep:
                kept_items.append(it)
            else:
                why = f" in a passage scoring {it.score:.3f}" if floor > t else ""
                dropped.append(Drop(it.cand.id, f"no sentence scored >= {floor}{why} (best {max(scores):.3f})"))
        if not kept_items and best_item is not None and not self.cfg.allow_empty:
            best_item.keep = [best_idx]
            best_item.unit_scores = {best_idx: best_score}
            kept_items = [best_item]
            dropped = [d for d in dropped if d.id != best_item.cand.id]
            return kept_items, dropped, "kept the best sentence although every sentence failed the cut"
        return kept_items, dropped, f"{dropped_sentences} sentence(s) removed"

    def budget(self, items: list[Selection]) -> tuple[list[Selection], list[Drop], str]:
        budget = self.cfg.token_budget if self.cfg.token_budget is not None else 10**9
        target = self.cfg.evidence_mass
        if target is None and self.tokens(items) <= budget:
            self.stop_reason = "everything fits the token budget"
            return items, [], ""
        units = self._units(items)
        full = {id(it): list(it.keep) for it in items}
        for it in items:
            it.keep = []
        cover = target is not None and bool(self.q_terms)  # terms are only looked at when they count
        coverable = set().union(*(self._terms(it, idx) for _, _, it, idx in units)) if cover else set()
        covered: set[str] = set()
        mass, over, enough = 0.0, 0, ""
        added: list[tuple[Selection, list[int]]] = []
        estimate = parts = 0  # the kept sentences' summed counts, and how many: kept as units are added
        for sc, _, it, idx in units:
            if target is not None and mass >= target and covered >= coverable:
                enough = f"stopped: evidence enough (scores add up to {mass:.2f} >= {target}" + (
                    ", every question term found is covered)" if cover else ")")
                break
            if all(i in it.keep for i in idx):
                continue
            before = list(it.keep)
            it.keep = sorted(set(it.keep) | set(idx))
            new = [self.count(t) for t in added_texts(it, before)]
            if not self._fits(items, budget, estimate + sum(new), parts + len(new)):
                it.keep = before
                over += 1
            else:
                added.append((it, before))
                estimate, parts = estimate + sum(new), parts + len(new)
                mass += sc
                if cover:
                    covered |= self._terms(it, idx)
        if enough:
            extra, enough = self._beside_enough(items, budget, (estimate, parts), enough)
            added += extra
        while added and self.tokens(items) > budget:  # a join that moved the count more than estimated
            it, before = added.pop()
            it.keep = before
            over += 1
        kept = [it for it in items if it.keep]
        note = ""
        if not kept and items and not self.cfg.allow_empty:
            items[0].keep = full[id(items[0])]
            kept, note = [self._truncate(items[0], budget)], f"best sentence cut to the {budget}-token budget"
        ceiling = f"stopped: token ceiling {budget} reached" if over else "stopped: no candidate sentence left"
        self.stop_reason = enough or ceiling
        reason = ("not needed: the evidence was enough" if enough and not over
                  else f"did not fit the {budget}-token budget")
        dropped = [Drop(it.cand.id, reason) for it in items if not it.keep]
        return kept, dropped, "; ".join(x for x in (note, self.stop_reason) if x)

    def _beside_enough(self, items: list[Selection], budget: int, size: tuple[int, int], enough: str
                       ) -> tuple[list[tuple[Selection, list[int]]], str]:
        """Once the evidence is enough: the kept passages' near-best sentences (``evidence_siblings``) and the
        opening sentences of the leads their names raised, while they fit."""
        added: list[tuple[Selection, list[int]]] = []
        if self.cfg.evidence_siblings is not None:
            extra, size = self._siblings(items, budget, self.cfg.evidence_siblings, size)
            added += extra
            if extra:
                enough += f"; kept {len(extra)} more sentence(s) scoring >= {self.cfg.evidence_siblings} x " \
                          "their passage's best"
        if self.leads:
            extra, size = self._openings(items, budget, size)
            added += extra
            if extra:
                enough += "; kept the opening sentence of " + ", ".join(
                    f"{it.cand.id} (named by {self.leads[it.cand.id] or 'the question'})" for it, _ in extra)
        return added, enough

    def _siblings(self, items: list[Selection], budget: int, ratio: float, size: tuple[int, int]
                  ) -> tuple[list[tuple[Selection, list[int]]], tuple[int, int]]:
        """Add to each kept passage its sentences scoring >= ``ratio`` x its best, best first, while they fit.
        Scores within one passage compare better than across passages, and a near miss usually lies next to
        the best evidence."""
        wanted = []
        for it in [it for it in items if it.keep and it.unit_scores]:
            top = max(it.unit_scores.values())
            wanted += [(it, i) for i, sc in sorted(it.unit_scores.items(), key=lambda u: -u[1]) if sc >= ratio * top]
        return self._add_sentences(items, budget, wanted, size)

    def _openings(self, items: list[Selection], budget: int, size: tuple[int, int]
                  ) -> tuple[list[tuple[Selection, list[int]]], tuple[int, int]]:
        """Add the opening sentence of each lead (``self.leads``) whose naming passage is kept, while it fits."""
        namers: set[str | None] = {None, *(it.cand.id for it in items if it.keep)}  # None: the question
        wanted = [(it, 0) for it in items
                  if it.cand.id in self.leads and it.cand.sentences and self.leads[it.cand.id] in namers]
        return self._add_sentences(items, budget, wanted, size)

    def _add_sentences(self, items: list[Selection], budget: int, wanted: list[tuple[Selection, int]],
                       size: tuple[int, int]) -> tuple[list[tuple[Selection, list[int]]], tuple[int, int]]:
        """Keep each (item, sentence index) of ``wanted`` in order while it fits; ``size`` is the kept sentences'
        summed counts and their number. Returns (item, keep before) per addition, and the new size."""
        estimate, parts = size
        added: list[tuple[Selection, list[int]]] = []
        for it, i in wanted:
            if i in it.keep:
                continue
            before = list(it.keep)
            it.keep = sorted([*before, i])
            new = self.count(it.cand.text[slice(*it.cand.sentences[i])])
            if self._fits(items, budget, estimate + new, parts + 1):
                added.append((it, before))
                estimate, parts = estimate + new, parts + 1
            else:
                it.keep = before
        return added, (estimate, parts)

    def _units(self, items: list[Selection]) -> list[tuple[float, int, Selection, list[int]]]:
        """Single sentences ranked by their own score once sentences were scored, else whole passages;
        a whole passage that does not fit is offered again sentence by sentence."""
        units: list[tuple[float, int, Selection, list[int]]] = []
        for rank, it in enumerate(items):
            if it.unit_scores:
                # score^(1-w) x passage score^w: a passage the hop lifted by its name (a bridge) ranks its plain
                # sentences ("The SAS was founded in 1941") above strong-sounding ones of passages nothing
                # points to; a sentence score alone cannot see that lift
                w = self.cfg.passage_weight
                units += [(sc if not w else sc ** (1 - w) * max(it.score, 0.0) ** w, rank, it, [i])
                          for i, sc in it.unit_scores.items()]
            else:
                units.append((it.score, rank, it, list(it.keep)))
                sc = it.cand.sentence_scores or [it.score] * len(it.cand.sentences)
                units += [(it.score * (1 - 1e-6) * (0.5 + 0.5 * sc[i]), rank, it, [i])
                          for i in it.keep if len(it.keep) > 1 and i < len(sc)]
        units.sort(key=lambda u: (-u[0], u[1]))
        return units

    def _terms(self, item: Selection, idx: list[int]) -> set[str]:
        if not self.q_terms:
            return set()
        c = item.cand
        spans = [c.sentences[i] for i in idx if i < len(c.sentences)] or [(0, len(c.text))]
        return {t for s, e in spans for t in term_tuple(c.text[s:e]) if t in self.q_terms}

    def _truncate(self, item: Selection, budget: int) -> Selection:
        """Budget smaller than any sentence: keep the head of the best sentence that fits."""
        c = item.cand
        scores = c.sentence_scores or [0.0]
        i = int(np.argmax(scores)) if c.sentences else 0
        s, e = c.sentences[i] if c.sentences else (0, len(c.text))
        lo, hi = s, e
        while lo < hi:  # longest prefix within budget
            mid = (lo + hi + 1) // 2
            if self.count(c.text[s:mid]) <= budget:
                lo = mid
            else:
                hi = mid - 1
        lo = s + len(c.text[s:lo].rstrip())
        cut = Candidate(**{**c.__dict__, "sentences": [(s, lo)], "sentence_scores": [scores[i]]})
        return Selection(cut, [0] if lo > s else [], item.vector)

    def max_passages(self, items: list[Selection]) -> tuple[list[Selection], list[Drop], str]:
        n = int(self.cfg.max_passages or 0)
        if len(items) <= n:
            return items, [], ""
        kept = items[:max(n, 0 if self.cfg.allow_empty else 1)]
        return kept, [Drop(i.cand.id, f"beyond max_passages={n}") for i in items[len(kept):]], ""
