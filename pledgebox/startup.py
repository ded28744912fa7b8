"""What `serve` says once before it listens: slips in the settings or the data folder that would cost pledges."""

from __future__ import annotations

import os
from collections import Counter
from datetime import date
from pathlib import Path

from . import config, sealing, store, tomlfile
from .errors import PledgeboxError
from .ownership import user_name


class StateNotWritable(PledgeboxError):
    """The server may not write its own runtime files, so every pledge would fail:"""

    hint = "give the data folder back to the server's user: chown -R USER: DATA/state"
    exit_code = 78  # restarting cannot help: someone must change the files' owner


def warnings(cfg: config.Config, day: date) -> list[str]:
    """Every warning for this start, each one line with what to do."""
    first_start = not (cfg.state_dir / "token.key").exists()
    return [*config.warnings(cfg, day, first_start=first_start), *foreign_records(cfg)]


def refuse_unwritable(state: Path) -> None:
    """Refuse to start when a runtime file is not this user's to write (made by root, most often)."""
    if not state.is_dir():
        return
    stuck = [
        p
        for p in sorted(state.iterdir(), key=lambda p: p.name)
        if not p.is_symlink() and not os.access(p, os.R_OK | os.W_OK)
    ]
    if not os.access(state, os.W_OK | os.X_OK):
        stuck.insert(0, state)
    if stuck:
        me = user_name(os.geteuid())
        raise StateNotWritable(
            f"{', '.join(str(p) for p in stuck)} cannot be written by {me} (a command run as "
            "another user, e.g. root, made it).",
            hint=f"give the files back to the server's user: chown -R {me}: {state}; then start again",
        )


def demo_recipient() -> sealing.Recipient:
    """The public demo key that pledges to the embedded demo campaign are sealed to."""
    doc = tomlfile.read(config.DEMO_CAMPAIGN)
    return sealing.Recipient.from_string(doc["organisers"][0]["recipient"])


def foreign_records(cfg: config.Config) -> list[str]:
    """Records waiting in the store that no key of this campaign can open (most often the demo's)."""
    if cfg.demo:
        return []
    ours = {sealing.Recipient.from_string(o.recipient).key_id for o in cfg.organisers}
    foreign: Counter[str] = Counter()
    for path in (cfg.state_dir / store.PENDING, cfg.state_dir / store.COLLECTED):
        if not path.is_file():
            continue
        try:
            for item in store.read_records(path):
                try:
                    ids = set(sealing.record_key_ids(item.record))
                except sealing.DamagedRecord:
                    continue  # audit and review report damaged records
                if not ids & ours:
                    foreign.update(ids)
        except store.RecordsUnreadable:
            continue  # unwritable() says so
    if not foreign:
        return []
    demo = demo_recipient()
    which = (
        f"the public demo key ({demo.fingerprint}): these are pledges made to the demo"
        if demo.key_id in foreign
        else "keys not in [[organisers]]: " + ", ".join(sorted(_fingerprint(k) for k in foreign)[:5])
    )
    return [
        f"the store ({cfg.state_dir}) holds sealed records that no key of this campaign can open, sealed "
        f"only to {which}. Hint: if they are not wanted, stop the server, remove {cfg.state_dir}, and start "
        "again; if they are, collect them and review them with the identity they were sealed to"
    ]


def _fingerprint(key_id: str) -> str:
    return " ".join(key_id[i : i + 4] for i in range(0, len(key_id), 4))
