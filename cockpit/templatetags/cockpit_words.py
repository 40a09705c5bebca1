"""Template filters that show engine and batch states in the operator's words."""
from __future__ import annotations

from django import template

register = template.Library()

# States whose words are not simply the lower-cased name with spaces.
STATE_WORDS = {
    "completed_with_failures": "completed with failures",
    "EXTERNALLY_TERMINATED": "externally terminated",
    "INTERNALLY_TERMINATED": "internally terminated",
}


@register.filter
def state_words(value: object) -> str:
    """completed_with_failures → "completed with failures", EXTERNALLY_TERMINATED → "externally terminated"."""
    if value is None or value == "":
        return ""
    text = str(value)
    return STATE_WORDS.get(text, text.replace("_", " ").lower())
