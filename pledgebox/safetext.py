"""Untrusted text made safe for where it goes: a terminal, a CSV cell, a JSON file; and its width on a terminal.

Every decrypted field, file name, bank statement cell and archive member name goes through one of these
functions before it is printed or written; nothing else formats untrusted text.
"""

from __future__ import annotations

import functools
import json
import re
import unicodedata

# Controls, format characters (bidi controls, zero-width space, BOM, tags), line and paragraph separators,
# private-use characters and lone surrogates (from undecodable file names).
_UNSAFE_CATEGORIES = frozenset(("Cc", "Cf", "Co", "Cs", "Zl", "Zp"))
# Characters that show as nothing although they are not format characters (Unicode's
# Default_Ignorable_Code_Point outside Cf): Hangul fillers, the combining grapheme joiner, variation
# selectors, Khmer inherent vowels, Mongolian selectors. They make two different texts look the same.
_INVISIBLE = frozenset(
    [
        0x034F,
        0x115F,
        0x1160,
        0x17B4,
        0x17B5,
        *range(0x180B, 0x1810),
        0x2065,
        0x3164,
        *range(0xFE00, 0xFE10),
        0xFFA0,
        *range(0xFFF0, 0xFFF9),
        *range(0xE0000, 0xE1000),
    ]
)
# Zero-width in a terminal. Escaped like every format character all the same: invisible on their own,
# they make "Anna" and "An\u200dna" look alike; a Persian word or an emoji family shows an escape instead.
_JOINERS = frozenset("\u200c\u200d\ufe0e\ufe0f")
_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r", "\\": "\\\\"}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def hidden(ch: str) -> bool:
    """True for a character that drives a terminal, hides, or reorders text (the joiners too)."""
    return ord(ch) in _INVISIBLE or unicodedata.category(ch) in _UNSAFE_CATEGORIES


@functools.cache
def _unsafe_class() -> str:
    """A regex character class of every hidden character, built once on first use (a few hundredths of a second)."""
    runs = ["\\U000f0000-\\U0010ffff"]  # planes 15 and 16 are private use
    # Beyond the first two planes, only the CJK planes (letters) and plane 14 (tags, selectors) hold characters.
    for first, end in ((0, 0x20000), (0xE0000, 0xE1000)):
        start = None
        for code in range(first, end + 1):
            unsafe = code < end and hidden(chr(code))
            if unsafe and start is None:
                start = code
            elif not unsafe and start is not None:
                runs.append(f"\\U{start:08x}-\\U{code - 1:08x}")
                start = None
    return "".join(runs)


@functools.cache
def _pattern(extra: str = "") -> re.Pattern:
    return re.compile(f"[{_unsafe_class()}{extra}]")


def _escape(match: re.Match) -> str:
    """One unsafe character as readable text: \\n, \\x1b, [U+202E]."""
    ch = match.group()
    code = ord(ch)
    if ch in _NAMED:
        return _NAMED[ch]
    if code < 0x20 or 0x7F <= code <= 0x9F:
        return f"\\x{code:02x}"
    return f"[U+{code:04X}]"


def terminal(text: str) -> str:
    """Text made safe to print: controls, ESC, DEL, C1, bidi and invisible characters shown as escapes."""
    if text.isascii() and text.isprintable() and "\\" not in text:
        return text
    return _pattern("\\\\").sub(_escape, text)


def csv_cell(text: str) -> str:
    """A spreadsheet-safe cell (OWASP CSV injection): a leading quote stops formulas; no raw controls."""
    # A message's line breaks and tabs stay as they are: every cell is quoted.
    text = _pattern().sub(lambda m: m.group() if m.group() in "\t\n\r" else _escape(m), text)
    # Spreadsheets skip leading spaces before they look for a formula; a tab or line break is one in itself.
    rest = text.lstrip()
    if rest.startswith(_FORMULA_START) or any(ch in "\t\r\n" for ch in text[: len(text) - len(rest)]):
        return "'" + text
    return text


def json_text(document) -> str:
    """JSON with readable Unicode, but controls, C1, DEL, bidi and invisible characters as \\u escapes."""
    text = json.dumps(document, ensure_ascii=False, indent=1)
    # These characters can only occur inside JSON strings, where \uXXXX means the same; json.dumps has
    # already escaped the C0 controls, so the layout's line breaks are not touched.
    return _pattern().sub(lambda m: m.group() if m.group() == "\n" else _json_escape(m), text)


def _json_escape(match: re.Match) -> str:
    """One character as a JSON \\u escape (a surrogate pair above U+FFFF)."""
    code = ord(match.group())
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def width(text: str) -> int:
    """How many terminal columns text takes (wide East Asian characters take two)."""
    if text.isascii():
        return len(text)
    return sum(
        0 if unicodedata.combining(ch) or ch in _JOINERS else 2 if unicodedata.east_asian_width(ch) in "WF" else 1
        for ch in text
    )


def fit(text: str, columns: int) -> str:
    """text cut to at most `columns` terminal columns, ending in … when cut."""
    if width(text) <= columns:
        return text
    out, used = [], 0
    for ch in text:
        w = width(ch)
        if used + w > columns - 1:
            break
        out.append(ch)
        used += w
    return "".join(out) + "…"
