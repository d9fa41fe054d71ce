"""Tools for developing Digit Lab that the tests and the benchmarks share.

They live here, not in tests/, so that a benchmark never imports test code:
`devtools.app_server` runs the app and its workers as subprocesses against a
temporary store; `devtools.browser` drives them in Debian's Chromium with Playwright.
"""
