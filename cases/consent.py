"""What the reporter, and the person affected, allowed: read once from the answers and enforced
by its own methods.

Consent is theirs, never ours to assume: anything but an explicit "yes" (or one of the
publication choices) is a no, on the case page, on paper and in the referral and statistics
rules alike, because every one of them asks this one value.

A report sent on someone else's behalf (by family, an organisation or anyone else) needs the
agreement of the person affected as well, as UN practice on reprisals requires: each action is
allowed only if both allowed it. When the person affected cannot be asked (detained, missing or
out of reach), the sender's consent stands in for theirs for acting and for raising it with the
authorities, never for publication.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from . import errors

FIELDS = ("consent_act", "consent_authorities", "consent_publish")
AFFECTED_FIELDS = ("affected_consent_act", "affected_consent_authorities", "affected_consent_publish")
ON_BEHALF = frozenset({"family", "organisation", "other"})  # reporter_role: not the person affected
CANNOT_ASK = "cannot_ask"


class Publish(enum.IntEnum):
    """Ordered, so that the narrower of two answers is their minimum."""

    NO = 0
    ANONYMISED = 1
    NAMED = 2

    @classmethod
    def read(cls, value: object) -> Publish:
        return (
            {"named": cls.NAMED, "anonymised": cls.ANONYMISED}.get(value, cls.NO) if isinstance(value, str) else cls.NO
        )

    @property
    def answer(self) -> str:
        return self.name.lower()


class ReferralRefused(errors.Refused):
    """The consent forbids this referral; ``reason`` is what the audit trail says."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Consent:
    """What counts: the reporter's answers, narrowed by the person affected's when the report was
    sent on their behalf. ``withheld_by_affected`` names the FIELDS the reporter allowed and the
    person affected did not (or was not asked about), so refusals can say whose answer stops them."""

    act: bool
    authorities: bool
    publish: Publish
    on_behalf: bool = False
    withheld_by_affected: frozenset[str] = frozenset()

    @classmethod
    def from_answers(cls, answers: Mapping[str, object]) -> Consent:
        act = answers.get("consent_act") == "yes"
        authorities = answers.get("consent_authorities") == "yes"
        publish = Publish.read(answers.get("consent_publish"))
        if answers.get("reporter_role") not in ON_BEHALF:
            return cls(act, authorities, publish)
        affected_act = answers.get("affected_consent_act") in ("yes", CANNOT_ASK)
        affected_authorities = answers.get("affected_consent_authorities") in ("yes", CANNOT_ASK)
        affected_publish = Publish.read(answers.get("affected_consent_publish"))
        withheld = {
            name
            for name, theirs, ours in zip(
                FIELDS,
                (affected_act, affected_authorities, affected_publish is not Publish.NO),
                (act, authorities, publish is not Publish.NO),
                strict=True,
            )
            if ours and not theirs
        }
        return cls(
            act and affected_act,
            authorities and affected_authorities,
            min(publish, affected_publish),
            on_behalf=True,
            withheld_by_affected=frozenset(withheld),
        )

    def given(self) -> tuple[bool, bool, bool]:
        """Each of FIELDS, in order: given or not."""
        return self.act, self.authorities, self.allows_statistics()

    def allows_statistics(self) -> bool:
        return self.publish is not Publish.NO

    def check_referral(self, authorities: bool) -> None:
        """Raise ``ReferralRefused`` unless this referral is allowed."""
        if not self.act:
            if "consent_act" in self.withheld_by_affected:
                raise ReferralRefused(
                    "The person affected did NOT agree to action on this report (or was not asked): "
                    "no referral may be made. Nothing was saved.",
                    "affected",
                )
            raise ReferralRefused(
                "The reporter did NOT consent to action on this report: no referral may be made. Nothing was saved.",
                "consent",
            )
        if authorities and not self.authorities:
            whose = "person affected" if "consent_authorities" in self.withheld_by_affected else "reporter"
            raise ReferralRefused(
                f"The {whose} did NOT consent to raising this with the authorities of the country concerned. "
                "Nothing was saved.",
                "affected-authorities" if whose == "person affected" else "authorities",
            )


def unknown() -> ReferralRefused:
    """The refusal when the report cannot be read, so neither can its consent."""
    return ReferralRefused(
        "The report cannot be read (the case page says why), so its consent cannot be checked. Nothing was saved.",
        "consent",
    )
