"""Manual-mode tag parsing: which agents a message addresses as `@agent_key`."""

from __future__ import annotations

import re
from collections.abc import Iterable

# Greedy key then a negative lookahead: `@bob` is read as the whole word "bob", so it can never tag
# an agent "bo"; a 33+ character run matches nothing, because no shorter prefix passes the lookahead.
_TAG = re.compile(r"@([a-z][a-z0-9_]{0,31})(?![a-z0-9_])")

# Characters that make a preceding `@` part of a word (an e-mail address, a handle, a path).
_BLOCKING_PUNCTUATION = frozenset("._-")


def _blocks_tag(previous: str) -> bool:
    # str.isalnum is Unicode-aware, so `é@bob` or `٣@bob` is not a tag either.
    return previous.isalnum() or previous in _BLOCKING_PUNCTUATION


def parse_tags(text: str, agent_keys: Iterable[str]) -> list[str]:
    """Agent keys tagged in `text`, in order of first mention, each once; unknown keys are ignored."""
    known = set(agent_keys)
    tagged: dict[str, None] = {}  # an insertion-ordered set
    for match in _TAG.finditer(text):
        start = match.start()
        if start > 0 and _blocks_tag(text[start - 1]):
            continue
        key = match.group(1)
        if key in known:
            tagged.setdefault(key)
    return list(tagged)
