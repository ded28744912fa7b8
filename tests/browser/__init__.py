"""Browser tests: Debian Chromium with JavaScript off, w3m, axe-core and the Nu HTML Checker."""
