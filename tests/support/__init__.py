"""Test harnesses too large for helpers.py: the app as a subprocess, and a private Tor network."""
