"""Text for people: control characters made visible, counted nouns, quoted bytes.

Names in an archive are whatever the dumped server accepted, so they can hold
escape sequences, newlines and bidi overrides.  Every human-readable output
passes names, values and messages through ``printable`` so that an archive can
neither drive the terminal nor forge a line of a report (JSON output is
escaped by the JSON encoder).
"""

from __future__ import annotations

import re

__all__ = ["article", "plural", "printable", "quote_bytes"]

# C0 controls, DEL, C1 controls, the bidi embeddings, overrides and isolates
# (U+202A-U+202E, U+2066-U+2069) that reorder the text shown after them, and lone
# surrogates (undecodable bytes of a file name), which no terminal encoding can print.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    short = _SHORT.get(char)
    if short is not None:
        return short
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` with every control or bidi character escaped: ESC as ``\\x1b``, newline as ``\\n``."""
    return _UNSAFE.sub(_escape, text)


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``1 document``, ``0 documents``, ``2 indexes`` (``nouns``: the irregular plural)."""
    if count == 1:
        return f"{count} {noun}"
    return f"{count} {nouns if nouns is not None else noun + 's'}"


def article(word: str) -> str:
    """``a str``, ``an int``: the indefinite article by the word's first letter."""
    return f"{'an' if word[:1].lower() in ('a', 'e', 'i', 'o', 'u') else 'a'} {word}"


def quote_bytes(data: bytes, limit: int = 40) -> str:
    """Bytes that look like text, quoted for a message: ``'2024-05-01 ...'``, cut after ``limit``."""
    text = data.decode("utf-8", "replace")
    cut = len(text) > limit
    shown = repr(text[:limit])
    if cut:
        shown = shown[:-1] + "..." + shown[-1]
    return printable(shown)
