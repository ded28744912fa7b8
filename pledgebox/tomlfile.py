"""Settings files read strictly: a syntax error is pointed at, an unknown key gets the closest known name."""

from __future__ import annotations

import difflib
import re
import tomllib
from pathlib import Path

from .errors import ConfigError

# What word processors and some phones type instead of " and '; TOML knows only the straight ones.
SMART_QUOTES = "\u201c\u201d\u201e\u201f\u2018\u2019\u201a\u201b\u00ab\u00bb"
_WHERE = re.compile(r"\(at line (\d+), column (\d+)\)")
_MAX_SHOWN = 100  # characters of the offending line shown: a long line is cut around the caret


def read(path: Path) -> dict:
    """Parse one TOML file; a syntax error shows the line and a caret under the column."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path} is not UTF-8 text (byte {exc.start}).", hint='save it as UTF-8 in your editor ("Encoding: UTF-8")'
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"{path} could not be read: {exc.strerror}.",
            hint="check that the file exists and that this user may read it",
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise syntax_error(path, text, exc) from None


def syntax_error(path: Path, text: str, exc: tomllib.TOMLDecodeError) -> ConfigError:
    """The decoder's message with the line, a caret under the column, and smart quotes named."""
    reason = _WHERE.sub("", str(exc)).strip()
    found = _WHERE.search(str(exc))
    lines = text.splitlines()
    if found:
        lineno, col = int(found.group(1)), int(found.group(2))
    else:  # "at end of document": the last line
        lineno = max(len(lines), 1)
        col = len(lines[-1]) + 1 if lines else 1
    line = lines[lineno - 1] if 0 < lineno <= len(lines) else ""
    start = max(0, min(col - 1 - _MAX_SHOWN // 2, len(line) - _MAX_SHOWN))
    shown = line[start : start + _MAX_SHOWN].replace("\t", " ")
    pointer = " " * (col - 1 - start) + "^"
    detail = f"{path}, line {lineno}, column {col}: {reason}.\n    {shown}\n    {pointer}"
    quotes = sorted({ch for ch in line if ch in SMART_QUOTES})
    if quotes:
        hint = (
            f"this line has typographic quotes ({' '.join(quotes)}): TOML needs straight ones, "
            f'"like this"; turn off "smart quotes" in your editor and retype them'
        )
    else:
        hint = (
            "correct the line (the caret points at where reading stopped), then start again; "
            "data/campaign.example.toml shows every key written correctly"
        )
    return ConfigError(detail, hint=hint)


def closest(name: str, known) -> str:
    """The known name most like a mistyped one ('' when none is close)."""
    match = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return match[0] if match else ""


def refuse_unknown(table: dict, known, where: str, spell=lambda key: key) -> None:
    """Refuse a key that is not in known, naming the closest known key."""
    for key in table:
        if key in known:
            continue
        near = closest(key, known)
        shown = spell(key)
        name = f"{where}.{shown}" if where else shown
        hint = (
            f"did you mean {spell(near)}?"
            if near
            else f"the known {'keys in ' + where if where else 'tables'} are: {', '.join(spell(k) for k in known)}"
        )
        raise ConfigError(
            f"{name} is not a setting pledgebox knows.", hint=f"{hint} (data/campaign.example.toml shows every key)"
        )
