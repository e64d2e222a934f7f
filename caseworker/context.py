"""The desk's one typed context: what every request of the desk app may reach.

Built once by ``create_app`` and stored on the app under ``EXTENSION``, the only string key, so
views ask ``desk()`` for the database, the blob store, the settings, the unlocked keys of open
sessions or the login state instead of string keys scattered over modules.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from flask import current_app

from cases.blobs import BlobStore
from cases.config import Settings
from cases.db import Database
from cases.staff_login import Logins
from cases.staff_sessions import KeyVault

EXTENSION = "rri.desk"


@dataclass
class Desk:
    settings: Settings
    db: Database
    blobs: BlobStore
    vault: KeyVault
    logins: Logins
    # Background threads the app started; setting an event stops its thread.
    stops: list[threading.Event] = field(default_factory=list)


def desk() -> Desk:
    context: Desk = current_app.extensions[EXTENSION]
    return context
