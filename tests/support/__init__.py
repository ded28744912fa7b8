"""Test harnesses too large for helpers.py: the app as a subprocess, a private Tor network, bank statements."""
