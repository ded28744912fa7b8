"""The data folder belongs to the server's user: commands that write it run as that user, and audit checks it.

A file that `collect` or `raised` wrote as root (mode 0600) cannot be written by the server
afterwards, and every pledge then fails. So commands that write the data folder refuse to run as
anyone but its owner, and say the exact `sudo -u` command instead.
"""

from __future__ import annotations

import os
import pwd
import shlex
import stat
import sys
from pathlib import Path

from .errors import PledgeboxError

# The files the server writes (relative to the data folder); each must stay writable by its user.
SERVER_WRITES = (".", "state", "state/*")


class WrongUser(PledgeboxError):
    """This command writes the server's data folder, which belongs to another user:"""

    hint = "run it as the data folder's owner: sudo -u OWNER …"
    exit_code = 77  # EX_NOPERM from sysexits.h


def user_name(uid: int) -> str:
    """The login name of uid, or `#UID` (which sudo -u also accepts) when it has none."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"#{uid}"


def invocation(argv: list[str]) -> str:
    """The command line that ran this command, as one shell-quoted string to run again."""
    program = sys.argv[0] if sys.argv and sys.argv[0] else "pledgebox"
    if program.endswith(".py"):
        prefix = [sys.executable, os.path.abspath(program)]
    elif os.sep in program:
        prefix = [os.path.abspath(program)]
    else:
        prefix = [program]
    return shlex.join(prefix + list(argv))


def owner_folder(data: Path) -> Path:
    """The folder whose owner the server runs as: state/ once it exists, else the data folder."""
    state = Path(data) / "state"
    return state if state.is_dir() else Path(data)


def refuse_other_user(data: Path, command: str) -> None:
    """Refuse to write the data folder as anyone but its owner, with the exact command to run instead."""
    folder = owner_folder(data)
    try:
        owner = folder.stat().st_uid
    except OSError:
        return  # no data folder yet: the command's own checks say so

    me = os.geteuid()
    if owner == me:
        return
    name = user_name(owner)
    raise WrongUser(
        f"{folder} belongs to {name}, and this command runs as {user_name(me)}. Files it wrote "
        f"would belong to {user_name(me)}, and the server (running as {name}) could not write "
        "them: every pledge would fail.",
        hint=f"run it as {name}: sudo -u {name} {command}",
    )


def writable_by(st: os.stat_result, uid: int) -> bool:
    """Whether the user uid may write a file with this status (its groups counted, root may write all)."""
    if uid == 0:
        return True
    if st.st_uid == uid:
        return bool(st.st_mode & stat.S_IWUSR)
    try:
        user = pwd.getpwuid(uid)
        groups = os.getgrouplist(user.pw_name, user.pw_gid)
    except KeyError:
        groups = []
    if st.st_gid in groups:
        return bool(st.st_mode & stat.S_IWGRP)
    return bool(st.st_mode & stat.S_IWOTH)
