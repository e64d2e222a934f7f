"""The ``reprisals`` console script: init, serve, add-caseworker, rotate-intake-key, demo."""
