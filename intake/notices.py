"""What the reporter is told when something went wrong, in their language, worded once."""

from __future__ import annotations

from .context import intake
from .i18n import gettext as _


def busy_notice() -> str:
    return _("The service is very busy right now. Nothing was lost: please wait a minute and send again.")


def storage_full_notice() -> str:
    return _(
        "We cannot store anything right now. Nothing was kept: please try again later. "
        "Your answers are still here, but please choose your files again."
    )


def too_large_notice(what: str) -> str:
    limits = intake().settings
    if what == "count":
        return _(
            "You can send at most %(count)d files at once. You can send more later with your token.",
            count=limits.max_files,
        )
    if what == "file":
        return _(
            "One of the files is larger than %(mb)d MB. Try a shorter video or a smaller photo, or send it later.",
            mb=limits.max_file_bytes // (1024 * 1024),
        )
    return _(
        "Together the files are larger than %(mb)d MB. Send some now and the rest later with your token.",
        mb=limits.max_total_bytes // (1024 * 1024),
    )


def stale_notice() -> str:
    return _("This page was open too long or came from somewhere else. Please check your answers and send again.")


def failed_notice() -> str:
    return _("Something went wrong while sending. Nothing was lost: please try again.")


def wait_notice() -> str:
    return _("Please wait a few seconds and send again. Nothing was lost.")


def no_match_notice() -> str:
    return _("No report matches this token. Please check it, or it may have been deleted.")


def typo_notice() -> str:
    return _("This number has a typo. Please check each digit.")


def token_shape_notice() -> str:
    return _("A token has 20 digits, in five groups of four.")


def gone_notice() -> str:
    return _("This token does not open a report any more.")
