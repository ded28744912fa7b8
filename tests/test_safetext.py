"""`safetext`: untrusted text for a terminal, a CSV cell and JSON; nothing invisible or controlling gets through."""

from __future__ import annotations

import csv
import io
import json
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pledgebox import safetext

# One of each kind that must never reach a terminal raw: C0, ESC, BEL, DEL, C1 (CSI), bidi controls,
# zero-width and other format characters, separators, private use, Hangul fillers, the combining grapheme
# joiner, a musical format character above U+FFFF, a tag character, a variation selector.
INVISIBLE = [
    "\x00",
    "\x1b",
    "\x07",
    "\x7f",
    "\x9b",
    "\u202e",
    "\u2066",
    "\u200b",
    "\u2060",
    "\ufeff",
    "\u2028",
    "\u2029",
    "\u00ad",
    "\ue000",
    "\U000f0000",
    "\u115f",
    "\u1160",
    "\u3164",
    "\uffa0",
    "\u034f",
    "\U0001d173",
    "\U000e0041",
    "\ufe00",
    "\U000e0100",
    "\u2065",
]


@pytest.mark.parametrize("ch", INVISIBLE)
def test_every_hidden_character_is_shown_as_an_escape(ch):
    assert safetext.hidden(ch)
    for out in (safetext.terminal("a" + ch + "b"), safetext.csv_cell("a" + ch + "b")):
        assert ch not in out and out.startswith("a") and out.endswith("b") and len(out) > 3
    assert ch not in safetext.json_text({"k": ch})
    assert json.loads(safetext.json_text({"k": "a" + ch})) == {"k": "a" + ch}


def test_escapes_are_readable():
    assert safetext.terminal("\x1b]0;PWNED\x07\x1b[2J") == "\\x1b]0;PWNED\\x07\\x1b[2J"
    assert safetext.terminal("\u3164x\U0001d173") == "[U+3164]x[U+1D173]"
    assert safetext.terminal("a\\n") == "a\\\\n"  # a literal backslash cannot forge an escape


@pytest.mark.parametrize("text", ["Солидарность", "Jörg", "漢字", "👩👩👧", "❤", "e\u0301", "plain ascii"])
def test_letters_accents_and_emoji_stay_as_they_are(text):
    assert safetext.terminal(text) == text
    assert safetext.csv_cell(text) == text
    assert text in safetext.json_text([text])


@pytest.mark.parametrize(
    "text, shown",
    [
        ("مرسی\u200cها", "مرسی[U+200C]ها"),
        ("An\u200dna", "An[U+200D]na"),
        ("👩\u200d👧", "👩[U+200D]👧"),
        ("❤\ufe0f", "❤[U+FE0F]"),
    ],
)
def test_joiners_and_selectors_are_format_characters_too(text, shown):
    # Issue 15: no invisible format character reaches the organiser raw, not even a joiner.
    assert safetext.terminal(text) == safetext.csv_cell(text) == shown
    assert json.loads(safetext.json_text([text])) == [text] and text not in safetext.json_text([text])


@given(st.text())
def test_terminal_output_holds_nothing_hidden(text):
    out = safetext.terminal(text)
    assert not any(safetext.hidden(ch) or unicodedata.category(ch) == "Cc" for ch in out)


@pytest.mark.parametrize(
    "payload",
    [
        "=1+1",
        "+1",
        "-1",
        "@SUM(A1)",
        "\t=1",
        "\r=1",
        "\n=1",
        " =1",
        "\t =1",
        "\u00a0=1",
        " \n+1",
        "\uff1d1",
        "\uff20x",
        " \r",
        " \t",
    ],
)
def test_a_cell_that_starts_like_a_formula_gets_a_quote(payload):
    assert safetext.csv_cell(payload) == "'" + payload


@given(st.text())
def test_no_cell_starts_like_a_formula_and_lines_survive_the_csv(text):
    cell = safetext.csv_cell(text)
    assert not cell.lstrip().startswith(("=", "+", "-", "@", "\uff1d", "\uff0b", "\uff0d", "\uff20"))
    assert not cell.lstrip(" ").startswith(("\t", "\r", "\n"))
    assert not any(safetext.hidden(ch) for ch in cell if ch not in "\t\n\r")
    buffer = io.StringIO(newline="")
    csv.writer(buffer, quoting=csv.QUOTE_ALL).writerow([cell])
    assert next(csv.reader(io.StringIO(buffer.getvalue(), newline=""))) == [cell]


@given(st.recursive(st.text() | st.integers(), lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner)))
def test_json_text_round_trips_and_holds_nothing_hidden(document):
    text = safetext.json_text(document)
    assert json.loads(text) == document
    assert not any(safetext.hidden(ch) for ch in text if ch != "\n")


def test_width_and_fit():
    assert safetext.width("漢字") == 4 and safetext.width("e\u0301") == 1
    assert safetext.fit("漢字漢字", 5) == "漢字…"
    assert safetext.fit("short", 10) == "short"
