"""What the CLI prints for a context and an answer (``--json`` prints their ``to_dict()`` instead)."""
from __future__ import annotations

from rag.types import Answer, Context


def context_text(ctx: Context, show_dropped: int = 3) -> str:
    """A context as `rag retrieve` prints it: the passages, then a line per stage with what it dropped."""
    lines = [f"context: {len(ctx.passages)} passage(s), {ctx.tokens} tokens"]
    for w in ctx.trace.warnings:
        lines.append(f"warning: {w}")
    for p in ctx.passages:
        spans = ", ".join(f"{a}-{b}" for a, b in p.spans)
        lines.append(f"\n[{p.id[:12]}] score {p.score:.3f}  {p.source} ({spans})")
        lines.append("    " + " ".join(p.text.split()))
    lines.append("\nstage          in  out  tokens in -> out      ms  note")
    for st in ctx.trace.stages:
        lines.append(f"{st.name:<12} {st.n_in:>4} {st.n_out:>4}  {st.tokens_in:>9} -> {st.tokens_out:<6}"
                     f" {st.ms:>7.1f}  {st.note}")
        for d in st.dropped[:show_dropped]:
            lines.append(f"{'':14}dropped {d.id[:12]}: {d.reason}")
        if len(st.dropped) > show_dropped:
            lines.append(f"{'':14}... and {len(st.dropped) - show_dropped} more (--show-dropped N)")
    return "\n".join(lines)


def answer_text(ans: Answer, *, with_text: bool = True, show_reasoning: bool = False, show_context: bool = True,
                show_dropped: int = 3) -> str:
    """An answer as `rag ask` prints it: the text, citations, usage, cost and time, then what the model saw."""
    u = ans.usage
    lines = [f"answer: {ans.text}"] if with_text else []
    if show_reasoning:
        lines.append(f"reasoning ({u.reasoning_tokens} tokens, {u.reasoning_source}): "
                     + (ans.reasoning or "(hidden by the model; only its token count is reported)"))
    lines.append("citations: " + (", ".join(f"[{c.label}] {c.id[:12]} {c.source}" for c in ans.citations) or "none"))
    lines.append(f"usage: prompt {u.prompt_tokens} (cached {u.cached_tokens}), completion {u.completion_tokens} "
                 f"(reasoning {u.reasoning_tokens}, answer {u.answer_tokens}); cost ${ans.cost:.6f}; "
                 f"{ans.answerer}{' ' + ans.model if ans.model else ''}, attempts {ans.attempts}")
    t = ans.timings
    lines.append(f"time: retrieve {t['retrieve_ms']:.0f} ms, first token {t['first_token_ms']:.0f} ms, "
                 f"total {t['total_ms']:.0f} ms")
    for w in ans.trace.warnings:
        lines.append(f"warning: {w}")
    if show_context:
        if ans.messages:
            lines.append("\nsent to the model:")
            lines += [f"--- {m['role']} ---\n{m['content']}" for m in ans.messages]
        else:
            lines.append("\n" + context_text(ans.context, show_dropped))
    return "\n".join(lines)
