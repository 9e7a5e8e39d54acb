"""One self-contained HTML page for a lean context (``rag retrieve Q --html FILE``, and each run of the
service's ``/ui``): the answer with clickable citations, usage and cost when there is one; what was
kept, with the kept sentences highlighted inside their passages; what each stage dropped and why; and
tokens and milliseconds per stage. No scripts, no external files: it can be attached to a bug report.
"""
from __future__ import annotations

from html import escape

from rag.types import Answer, Candidate, Context, Passage

_STYLE = """body{font:15px/1.45 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
h1{font-size:1.3rem}h2{font-size:1.1rem;margin-top:2rem}table{border-collapse:collapse;width:100%}
td,th{padding:.25rem .5rem;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}
.bar{background:#4a7;height:.6rem;display:inline-block}.tok{background:#47a}.passage{border:1px solid #ccc;
border-radius:6px;padding:.6rem .8rem;margin:.6rem 0}.meta{color:#666;font-size:.85rem}mark{background:#ffe38a}
.dropped{color:#555}.warn{color:#a40}"""


def render(ctx: Context, answer: Answer | None = None) -> str:
    pool = {c.id: c for c in ctx.pool or []}
    parts = [f"<!doctype html><html lang=en><meta charset=utf-8><title>leanrag trace</title><style>{_STYLE}</style>",
             f"<h1>{escape(ctx.question)}</h1>", _answer(answer) if answer is not None else "",
             f"<p class=meta id=summary>{len(ctx.passages)} passage(s), {ctx.tokens} tokens; "
             f"{escape(ctx.trace.stop_reason or 'selection ran to the end')}"
             f"{'; abstained' if ctx.trace.abstained else ''}</p>"]
    parts += [f"<p class=warn>warning: {escape(w)}</p>" for w in ctx.trace.warnings]
    parts.append("<h2>Kept context</h2>")
    parts += [_kept(i, p, pool.get(p.id)) for i, p in enumerate(ctx.passages, 1)]
    parts.append(_stages(ctx))
    parts.append("<h2>Dropped, by stage</h2><table id=dropped><tr><th>stage</th><th>passage</th><th>why</th></tr>")
    for st in ctx.trace.stages:
        for d in st.dropped:
            snippet = pool[d.id].text[:160] if d.id in pool else ""
            parts.append(f"<tr class=dropped><td>{escape(st.name)}</td><td>{escape(d.id[:16])}<br>"
                         f"<span class=meta>{escape(snippet)}</span></td><td>{escape(d.reason)}</td></tr>")
    parts.append("</table></html>")
    return "\n".join(parts)


def _answer(ans: Answer) -> str:
    """The answer, each [n] a link to kept passage n; then what it cost."""
    text = escape(ans.text)
    for c in ans.citations:
        text = text.replace(f"[{c.label}]", f"<a href='#kept-{c.label}'>[{c.label}]</a>")
    u = ans.usage
    usage = (f"{u.prompt_tokens} prompt ({u.cached_tokens} cached), {u.completion_tokens} completion "
             f"({u.reasoning_tokens} reasoning); cost ${ans.cost:.6f}; "
             f"{ans.timings.get('total_ms', 0.0):.0f} ms")
    who = escape(ans.model or ans.answerer) + ("; abstained: no model call" if ans.abstained else "")
    return (f"<h2>Answer</h2><p id=answer>{text}</p>"
            f"<p class=meta id=usage>{who} &middot; {usage}</p>")


def _kept(n: int, p: Passage, cand: Candidate | None) -> str:
    head = (f"<div class=passage id=kept-{n}><div class=meta>[{n}] {escape(p.title or p.source)} &middot; "
            f"score {p.score:.3f} &middot; {p.tokens} tokens &middot; {escape(p.id[:16])}</div>")
    if cand is None:
        return head + f"<p>{escape(p.text)}</p></div>"
    text, out, at = cand.text, [], 0
    for start, end in sorted(p.spans):  # source offsets; the candidate's text starts at cand.start
        a, b = max(start - cand.start, at), min(end - cand.start, len(text))
        if a >= b:
            continue
        out += [escape(text[at:a]), f"<mark>{escape(text[a:b])}</mark>"]
        at = b
    out.append(escape(text[at:]))
    return head + f"<p>{''.join(out)}</p></div>"


def _stages(ctx: Context) -> str:
    stages = ctx.trace.stages
    most_ms = max((s.ms for s in stages), default=0.0) or 1.0
    most_tok = max((s.tokens_in for s in stages), default=0) or 1
    rows = ["<h2>Stages</h2><table id=stages><tr><th>stage</th><th>in &rarr; out</th><th>tokens</th>"
            "<th>ms</th><th>note</th></tr>"]
    for s in stages:
        rows.append(f"<tr><td>{escape(s.name)}</td><td>{s.n_in} &rarr; {s.n_out}</td>"
                    f"<td><span class='bar tok' style='width:{80 * s.tokens_out / most_tok:.0f}px'></span> "
                    f"{s.tokens_in} &rarr; {s.tokens_out}</td>"
                    f"<td><span class=bar style='width:{80 * s.ms / most_ms:.0f}px'></span> {s.ms:.1f}</td>"
                    f"<td class=meta>{escape(s.note)}</td></tr>")
    rows.append("</table>")
    return "\n".join(rows)
