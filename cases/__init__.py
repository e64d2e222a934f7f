"""The domain: every rule of the system, read side and write side, for both apps and the CLI.

This is the room where requests never enter (Flask's ``sansio`` idea): nothing here imports
Flask, Werkzeug, WTForms or an app (tests/test_layout.py checks), so each rule has one home and
is tested without HTTP. Every SQL query and every seal and open lives here, over ``crypto``.

Modules that touch private keys (``keyring``, ``installation`` and the staff and case-reading
modules built on them) serve the desk and the CLI; serving the intake never loads them
(tests/test_intake_isolation.py checks). Failures a person can cause are ``errors.DomainError``
subclasses; settings come from ``config.Settings``, read once at start.
"""
