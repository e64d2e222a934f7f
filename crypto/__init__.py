"""Pure cryptography for the reprisal-reporting system.

Nothing here knows about Flask, databases or files: every function takes bytes and keys and
returns bytes, so the same code serves the intake app, the caseworker app and the CLI, and can be
checked against the browser's seal.js byte for byte. The formats are specified in
docs/protocol.md.
"""
