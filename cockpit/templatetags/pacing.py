"""The details page's pacing panel: a running batch's throttle with its ETA, and its schedule."""
from __future__ import annotations

from django import template

from batches.pacing import pacing_state

register = template.Library()


@register.simple_tag
def batch_pacing(batch, remaining_items) -> dict:
    """batches.pacing.pacing_state for the template; {} for an ended batch."""
    state = pacing_state(batch, int(remaining_items or 0))
    if state.get("rate"):
        state["rate_text"] = f"{state['rate']:g}"  # 0.5, 2, 12.5
    if state.get("eta_seconds") is not None:
        state["eta"] = duration_words(state["eta_seconds"])
    return state


def duration_words(seconds: int) -> str:
    """4000 → "1 h 6 min", 75 → "1 min 15 s", 9 → "9 s"."""
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"
