"""The browser tests' own promise: a missing tool skips them with its name and how to install it."""

from __future__ import annotations

import pytest

from .harness import INSTALL_HINT, require


def test_a_missing_tool_skips_with_what_is_missing_and_how_to_install_it(tmp_path):
    with pytest.raises(pytest.skip.Exception) as skipped:
        require(tmp_path / "no-such-browser", "Debian's chromium")
    assert "Debian's chromium is missing" in str(skipped.value) and INSTALL_HINT in str(skipped.value)
    with pytest.raises(pytest.skip.Exception, match="Java is missing \\(not on PATH\\)"):
        require(None, "Java")


def test_an_installed_tool_is_used(tmp_path):
    tool = tmp_path / "tool"
    tool.write_bytes(b"")
    assert require(str(tool), "a tool") == tool
