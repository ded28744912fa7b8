"""The project's own exceptions: each docstring is the message a user reads."""


class PledgeboxError(Exception):
    """Something went wrong."""

    hint = ""
    exit_code = 1

    def __init__(self, detail: str = "", hint: str = ""):
        super().__init__(detail)
        self.detail = detail
        if hint:
            self.hint = hint

    @property
    def message(self) -> str:
        """The user-facing text: the class docstring, then the detail."""
        doc = (type(self).__doc__ or "").strip()
        return f"{doc} {self.detail}".strip() if self.detail else doc


class ConfigError(PledgeboxError):
    """The campaign configuration is not usable:"""

    hint = "correct it in campaign.toml, then start again (data/campaign.example.toml shows every key)"
    # EX_CONFIG from sysexits.h: the unit's RestartPreventExitStatus= names it, so systemd does not
    # restart a server that cannot start until someone edits its settings.
    exit_code = 78


class UsageError(PledgeboxError):
    """Wrong use of the command:"""

    hint = "`pledgebox COMMAND --help` shows each command's options and examples"

    exit_code = 2


class OutputExists(PledgeboxError):
    """The output file already exists, and is never overwritten:"""

    hint = "choose a new file name, or move the old file away first"


class PrivateKeyInData(PledgeboxError):
    """A private organiser identity is in the data folder; the server must hold only public keys:"""

    hint = "move it to the organisers' own machine (and keep a backup there), then start again"
    exit_code = 78  # as a ConfigError: systemd must not restart until someone moves the file
