"""What a reporter allowed, read once from their answers and enforced by its own methods.

Consent is the reporter's, never ours to assume: anything but an explicit "yes" (or one of the
publication choices) is a no, on the case page, on paper and in the referral and statistics
rules alike, because every one of them asks this one value.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from . import errors

FIELDS = ("consent_act", "consent_authorities", "consent_publish")


class Publish(enum.StrEnum):
    NO = "no"
    NAMED = "named"
    ANONYMISED = "anonymised"


class ReferralRefused(errors.Refused):
    """The reporter's consent forbids this referral; ``reason`` is what the audit trail says."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Consent:
    act: bool
    authorities: bool
    publish: Publish

    @classmethod
    def from_answers(cls, answers: Mapping[str, object]) -> Consent:
        publish = answers.get("consent_publish")
        return cls(
            act=answers.get("consent_act") == "yes",
            authorities=answers.get("consent_authorities") == "yes",
            publish=Publish(publish) if publish in ("named", "anonymised") else Publish.NO,
        )

    def given(self) -> tuple[bool, bool, bool]:
        """Each of FIELDS, in order: given or not."""
        return self.act, self.authorities, self.allows_statistics()

    def allows_statistics(self) -> bool:
        return self.publish is not Publish.NO

    def check_referral(self, authorities: bool) -> None:
        """Raise ``ReferralRefused`` unless this referral is allowed."""
        if not self.act:
            raise ReferralRefused(
                "The reporter did NOT consent to action on this report: no referral may be made. Nothing was saved.",
                "consent",
            )
        if authorities and not self.authorities:
            raise ReferralRefused(
                "The reporter did NOT consent to raising this with the authorities of the country concerned. "
                "Nothing was saved.",
                "authorities",
            )


def unknown() -> ReferralRefused:
    """The refusal when the report cannot be read, so neither can its consent."""
    return ReferralRefused(
        "The report cannot be read (the case page says why), so its consent cannot be checked. Nothing was saved.",
        "consent",
    )
