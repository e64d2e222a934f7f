"""The report form's questions and vocabularies, in one place.

Templates, the no-JavaScript parser, the browser (through the rendered form) and the caseworker
desk all read from here, so a deployment adapts the form by editing this module only. Every
question is optional except the account of what happened. Strings are English message ids,
marked with ``N_`` for extraction into the translation catalogues and translated when rendered.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import countries


def N_(text: str) -> str:
    """Mark a string for translation without translating it here (no Flask in this package)."""
    return text


@dataclass(frozen=True)
class Choice:
    value: str
    label: str


@dataclass(frozen=True)
class Question:
    name: str
    kind: str  # "textarea" | "text" | "one" (radio) | "many" (checkboxes) | "country" (cases.countries)
    label: str
    help: str = ""
    choices: tuple[Choice, ...] = ()
    required: bool = False
    max_length: int = 200

    def values(self) -> set[str]:
        if self.kind == "country":
            return {*countries.CODES, countries.OTHER}
        return {c.value for c in self.choices}


@dataclass(frozen=True)
class Section:
    title: str
    questions: tuple[Question, ...] = field(default_factory=tuple)


def _choices(*pairs: tuple[str, str]) -> tuple[Choice, ...]:
    return tuple(Choice(value, label) for value, label in pairs)


YES_NO = _choices(("yes", N_("Yes")), ("no", N_("No")))
PUBLISH = _choices(
    ("named", N_("Yes, with names")),
    ("anonymised", N_("Yes, but without names")),
    ("no", N_("No")),
)
# For a report sent on someone's behalf: why the person affected has not said yes or no.
AFFECTED_CANNOT_SAY = _choices(
    ("cannot_ask", N_("They cannot be asked now (detained, missing or out of reach)")),
    ("not_asked", N_("I have not asked them")),
)

DANGER = Question(
    "danger",
    "one",
    N_("Is someone in immediate danger right now?"),
    N_("For example: detained, missing, or threatened with death. We will look at urgent reports first."),
    YES_NO,
)

ACT_TYPES = _choices(
    ("early_warning", N_("Warning signs: I fear something will happen")),
    ("threats", N_("Threats or intimidation")),
    ("physical_attack", N_("Physical attack")),
    ("arrest_detention", N_("Arrest or detention")),
    ("disappearance", N_("Disappearance: nobody knows where the person is")),
    ("ill_treatment", N_("Torture or ill-treatment")),
    ("killing", N_("Killing")),
    ("judicial_harassment", N_("Court cases, charges, or laws used against us")),
    ("travel_ban", N_("Travel ban, visa refused, or stopped at a border or airport")),
    ("surveillance", N_("Surveillance or being followed")),
    ("smear_campaign", N_("Smear campaign or lies in public")),
    ("online_harassment", N_("Online harassment or hacking")),
    ("administrative_pressure", N_("Pressure on registration, money, tax or premises")),
    ("family_community", N_("Harm to family or community")),
    ("un_venue", N_("Intimidation at a UN meeting or building")),
    ("other", N_("Something else")),
)

SECTIONS: tuple[Section, ...] = (
    Section(
        N_("What happened"),
        (
            Question(
                "what_happened",
                "textarea",
                N_("What happened?"),
                N_(
                    "Tell us in your own words. Write as much or as little as you want. "
                    "Leave out names or details you do not want to share."
                ),
                required=True,
                max_length=100_000,
            ),
            Question("act_types", "many", N_("What kind of harm? Choose all that fit."), "", ACT_TYPES),
            Question(
                "online",
                "one",
                N_("Did it happen online or offline?"),
                "",
                _choices(("online", N_("Online")), ("offline", N_("Offline")), ("both", N_("Both"))),
            ),
            Question(
                "when",
                "text",
                N_("When did it happen?"),
                N_("A day, a month or a year is enough. Write 'still happening' if it goes on."),
            ),
            # A list of ISO 3166-1 codes named from CLDR in the reporter's language (cases.countries),
            # "" (not answered) or "other"; a place not in the list goes in country_other.
            Question("country", "country", N_("In which country?"), max_length=8),
            Question("country_other", "text", N_("Not in the list? Write the country or place here.")),
            Question(
                "place",
                "text",
                N_("Where exactly?"),
                N_("For example a town, a border post, a UN building, or after you came home. You may skip this."),
            ),
        ),
    ),
    Section(
        N_("Who was targeted"),
        (
            Question(
                "target",
                "one",
                N_("Who was targeted?"),
                "",
                _choices(
                    ("me", N_("Me")),
                    ("someone_else", N_("Someone else")),
                    ("organisation", N_("An organisation")),
                    ("community", N_("A community")),
                ),
            ),
            Question(
                "profile",
                "many",
                N_("Does any of this describe them?"),
                N_("This helps us find the right support. You may skip it."),
                _choices(
                    ("woman", N_("Woman human rights defender")),
                    ("youth_child", N_("Young person or child")),
                    ("lgbti", N_("LGBTI person")),
                    ("indigenous", N_("Indigenous person")),
                    ("minority", N_("Member of a minority")),
                    ("journalist", N_("Journalist")),
                    ("lawyer", N_("Lawyer")),
                    ("disability", N_("Person with a disability")),
                    ("migrant", N_("Migrant or refugee")),
                ),
            ),
            Question(
                "situation",
                "one",
                N_("Where are they now?"),
                "",
                _choices(
                    ("free", N_("Free")),
                    ("detained", N_("Detained")),
                    ("missing", N_("Missing")),
                    ("hiding", N_("In hiding")),
                    ("relocated", N_("Moved to a safer place")),
                    ("unknown", N_("I do not know")),
                ),
            ),
            Question(
                "perpetrator",
                "many",
                N_("Who do you think did it?"),
                "",
                _choices(
                    ("security_forces", N_("Police, army or security services")),
                    ("officials", N_("Government officials")),
                    ("judiciary", N_("Judges or prosecutors")),
                    ("un_mission", N_("A country's mission at the UN")),
                    ("armed_groups", N_("Armed or extremist groups")),
                    ("companies", N_("A company")),
                    ("organised_crime", N_("Organised crime")),
                    ("community_family", N_("Community or family members")),
                    ("unknown", N_("I do not know")),
                ),
            ),
        ),
    ),
    Section(
        N_("The link with the UN"),
        (
            Question(
                "un_link",
                "many",
                N_("How did you or they work with the UN?"),
                N_("Reprisals are often linked to this. It helps us act."),
                _choices(
                    ("hrc", N_("Human Rights Council")),
                    ("upr", N_("Universal Periodic Review (UPR)")),
                    ("treaty_body", N_("A treaty body (a UN committee)")),
                    ("special_procedure", N_("A Special Rapporteur or working group")),
                    ("ohchr", N_("UN Human Rights office (OHCHR) or its field office")),
                    ("country_team", N_("UN country team")),
                    ("peace_operation", N_("UN peace operation")),
                    ("un_meeting", N_("A UN meeting or conference")),
                    ("other", N_("Other")),
                ),
            ),
            Question("un_link_when", "text", N_("When was that?")),
            Question(
                "reported_elsewhere",
                "many",
                N_("Did you already report this somewhere else?"),
                "",
                _choices(
                    ("nhri", N_("National human rights institution")),
                    ("ngo", N_("A non-governmental organisation")),
                    ("other_un", N_("Another UN body")),
                    ("authorities", N_("Police or courts")),
                    ("no", N_("No")),
                ),
            ),
            Question("reported_result", "textarea", N_("What came of it?"), max_length=10_000),
        ),
    ),
    Section(
        N_("What you want"),
        (
            Question(
                "help_wanted",
                "many",
                N_("What help would you like?"),
                N_("We will be honest about what we can do."),
                _choices(
                    ("advice", N_("Advice")),
                    ("legal_aid", N_("Legal help")),
                    ("emergency_funds", N_("Emergency money")),
                    ("relocation", N_("Help to move to a safer place")),
                    ("medical_psych", N_("Medical or psychological support")),
                    ("public_statement", N_("A public statement")),
                    ("quiet_diplomacy", N_("Quiet contact with the government")),
                    ("documentation_only", N_("Only record it")),
                ),
            ),
            Question(
                "consent_act",
                "one",
                N_("May we act on this report?"),
                N_("We act only if you agree. Some actions can make things worse; we will ask you first."),
                YES_NO,
            ),
            Question(
                "consent_authorities",
                "one",
                N_("May we raise it with the authorities of the country concerned?"),
                "",
                YES_NO,
            ),
            Question(
                "consent_publish",
                "one",
                N_("May it appear in public UN reports?"),
                "",
                PUBLISH,
            ),
            Question(
                "reporter_role",
                "one",
                N_("Who is sending this report?"),
                "",
                _choices(
                    ("self", N_("The person affected")),
                    ("family", N_("A family member")),
                    ("organisation", N_("An organisation on their behalf")),
                    ("other", N_("Someone else")),
                ),
            ),
        ),
    ),
    Section(
        N_("If you are sending this for someone else"),
        (
            Question(
                "affected_knows",
                "one",
                N_("Does the person affected know about this report?"),
                N_("Skip these questions if you are the person affected."),
                _choices(("yes", N_("Yes")), ("no", N_("No")), ("unsure", N_("I am not sure"))),
            ),
            Question(
                "affected_consent_act",
                "one",
                N_("Does the person affected agree that we act on it?"),
                N_("We act for someone only if they agree, or if they cannot be asked."),
                YES_NO + AFFECTED_CANNOT_SAY,
            ),
            Question(
                "affected_consent_authorities",
                "one",
                N_("Do they agree that we raise it with the authorities of the country concerned?"),
                "",
                YES_NO + AFFECTED_CANNOT_SAY,
            ),
            Question(
                "affected_consent_publish",
                "one",
                N_("Do they agree that it appears in public UN reports?"),
                "",
                PUBLISH + AFFECTED_CANNOT_SAY,
            ),
            Question(
                "affected_contact",
                "textarea",
                N_("How can we reach them safely?"),
                N_("Leave this empty if we must not contact them."),
                max_length=2_000,
            ),
        ),
    ),
)

QUESTIONS: dict[str, Question] = {q.name: q for s in SECTIONS for q in s.questions} | {DANGER.name: DANGER}
#: Version of the report's JSON layout inside the sealed envelope (docs/protocol.md, "Report").
REPORT_VERSION = 1

#: The stages a reporter sees on their timeline, each explained in plain words.
STAGES: dict[str, tuple[str, str]] = {
    "received": (N_("Received"), N_("Your report arrived safely. Nobody has read it yet.")),
    "under_review": (N_("Under review"), N_("A caseworker is reading your report and checking the facts.")),
    "need_info": (N_("More information needed"), N_("We need to know more. Please read our message and answer it.")),
    "action_taken": (
        N_("Action taken or referred"),
        N_("We acted on your report, or passed it to people who can help, as you allowed."),
    ),
    "closed": (N_("Closed"), N_("We finished our work on this report. Our message says what came of it.")),
}


# -- the quick path: three questions first, everything else later ("Add details") -----------------
#: Asked on the report form's first page, in this order; then Send.
QUICK_NAMES: tuple[str, ...] = ("danger", "what_happened", "consent_act")
QUICK: dict[str, Question] = {name: QUESTIONS[name] for name in QUICK_NAMES}
#: The details page: every section of the form minus the quick questions, in the form's order.
DETAILS_SECTIONS: tuple[Section, ...] = tuple(
    Section(s.title, tuple(q for q in s.questions if q.name not in QUICK_NAMES))
    for s in SECTIONS
    if any(q.name not in QUICK_NAMES for q in s.questions)
)
DETAILS: dict[str, Question] = {q.name: q for s in DETAILS_SECTIONS for q in s.questions}
