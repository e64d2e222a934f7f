"""The domain model and persistence shared by the intake app, the caseworker app and the CLI.

Nothing here imports Flask or either app. Modules that touch private keys (``keyring``) are used
only by the caseworker side and the CLI; the intake app never imports them.
"""
