"""The campaign widget's figures: progress towards the goal and the countdown."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_DOWN, Decimal
from pathlib import Path

from . import files
from .errors import PledgeboxError

TOTALS_FILE = "published.json"
MAX_TOTAL = Decimal("100000000")


class BadTotal(PledgeboxError):
    """That is not an amount that can be published:"""

    hint = "write it like 1234.50, with a dot and no currency sign"

    exit_code = 2


@dataclass(frozen=True)
class Totals:
    """What the organisers published: the amount reached, and optionally the amount pledged."""

    raised: Decimal = Decimal(0)
    pledged: Decimal | None = None


@dataclass(frozen=True)
class Widget:
    """Everything the campaign widget shows, computed for one day."""

    percent: int
    bar_value: Decimal  # capped at the goal, for <progress>
    goal: Decimal
    raised: Decimal
    pledged: Decimal | None
    days_left: int | None  # None: no deadline; 0: the last day; <0 never shown
    deadline: date | None


def today(tz, now: datetime | None = None) -> date:
    """The current day in the campaign's time zone (now may be injected by tests)."""
    return (now or datetime.now(tz)).astimezone(tz).date()


def widget(goal: Decimal, totals: Totals, deadline: date | None, day: date) -> Widget:
    """Compute the widget's figures for `day`; the percentage is rounded down, never negative."""
    raised = max(totals.raised, Decimal(0))
    percent = int((raised * 100 / goal).to_integral_value(rounding=ROUND_DOWN))
    days_left = (deadline - day).days if deadline else None
    return Widget(
        percent=percent,
        bar_value=min(raised, goal),
        goal=goal,
        raised=raised,
        pledged=totals.pledged,
        days_left=days_left,
        deadline=deadline,
    )


def parse_total(text: str) -> Decimal:
    """Parse an amount given on the command line: digits with an optional '.' and two decimals."""
    cleaned = text.strip().replace("_", "") if isinstance(text, str) else ""
    # Only plain digits: Decimal would also take 1e3, Infinity and NaN.
    if not re.fullmatch(r"[0-9]+(\.[0-9]+)?", cleaned):
        raise BadTotal(f"{text!r}.")
    amount = Decimal(cleaned)
    if not amount.is_finite() or amount < 0 or amount > MAX_TOTAL or amount != amount.quantize(Decimal("0.01")):
        raise BadTotal(f"{text!r} (it must be between 0 and {MAX_TOTAL}, with at most two decimals).")
    return amount.quantize(Decimal("0.01"))


def write_totals(state_dir: Path, totals: Totals) -> Path:
    """Publish the totals atomically: a reader sees the old figures or the new, never half."""
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    doc = {"raised": str(totals.raised)}
    if totals.pledged is not None:
        doc["pledged"] = str(totals.pledged)
    target = state_dir / TOTALS_FILE
    # Public figures, readable by the server's user even when an organiser ran this as root.
    files.write_new(target, json.dumps(doc).encode("utf-8"), mode=0o644, replace=True)
    return target


# `raised` writes about 60 bytes; anything far larger is not its file.
TOTALS_MAX_BYTES = 4096


def read_totals(state_dir: Path) -> Totals:
    """The published totals, or zero when nothing was published (or the file is unreadable)."""
    try:
        with open(state_dir / TOTALS_FILE, "rb") as f:
            data = f.read(TOTALS_MAX_BYTES + 1)
        doc = json.loads(data.decode("utf-8")) if len(data) <= TOTALS_MAX_BYTES else None
        if not isinstance(doc, dict):
            return Totals()
        pledged = doc.get("pledged")
        return Totals(parse_total(doc["raised"]), parse_total(pledged) if pledged is not None else None)
    # RecursionError: a file of nested brackets, written by whoever could write state/.
    except (OSError, ValueError, KeyError, TypeError, AttributeError, BadTotal, RecursionError):
        return Totals()


def totals_version(state_dir: Path) -> tuple:
    """A cheap fingerprint of the totals file, so pages are re-rendered only when it changes."""
    try:
        st = os.stat(state_dir / TOTALS_FILE)
    except OSError:
        return ()
    return (st.st_ino, st.st_mtime_ns, st.st_size)
