"""Dates the server records: UTC, and day-granular for anything a reporter did."""

import datetime as dt


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
