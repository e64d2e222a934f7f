"""The one object the intake's views share, and the accessor that finds it for a request."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cached_property

from flask import Flask, current_app, g

from cases.blobs import BlobStore
from cases.config import Settings
from cases.db import Database
from cases.filing import Filing
from cases.in_flight import Holds
from cases.limits import Slots
from cases.proof_of_work import ProofOfWork

from . import contacts
from .contacts import Contact

_KEY = "rri.intake"


@dataclass
class Intake:
    """Configuration, the domain (filing, proof-of-work) and the bounds on work per process."""

    filing: Filing
    pow: ProofOfWork
    sealing: threading.BoundedSemaphore  # requests sealing files at once (cases.sealing)

    @property
    def settings(self) -> Settings:
        return self.filing.settings

    @property
    def db(self) -> Database:
        return self.filing.db

    @property
    def blobs(self) -> BlobStore:
        return self.filing.blobs

    @property
    def slots(self) -> Slots:
        return self.filing.slots

    @cached_property
    def contacts(self) -> list[Contact]:
        """Emergency contacts shown to reporters in danger (intake.contacts); read once, at start."""
        return contacts.load(self.settings.emergency_contacts_file)

    def install(self, app: Flask) -> None:
        self.contacts  # noqa: B018 - a bad contacts file stops the app now, not on a reporter's page
        app.extensions[_KEY] = self
        app.teardown_request(self._release_holds)

    def _release_holds(self, _error: BaseException | None) -> None:
        held: Holds | None = g.pop("rri_holds", None)
        if held is not None:
            self.filing.in_flight.release(held)


def intake(app: Flask | None = None) -> Intake:
    """The app's context: the current app's, or ``app``'s (for tests and the app factory)."""
    found: Intake = (app or current_app).extensions[_KEY]
    return found


def holds() -> Holds:
    """The submits this request holds (cases.in_flight), released when the request ends."""
    if "rri_holds" not in g:
        g.rri_holds = Holds()
    held: Holds = g.rri_holds
    return held
