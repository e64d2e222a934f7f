"""The request class that hands each uploaded file to a sealing stream (cases.sealing) as it
arrives: werkzeug would otherwise keep files whole in memory, or spool large ones to a temporary
file on disk, in clear. The views then collect the sealed files with ``sealed_files``."""

from __future__ import annotations

from typing import IO

from flask import Request, request
from werkzeug.datastructures import FileStorage

from cases import sealing
from cases.sealing import Budget, SealingFile

from .context import intake


class InMemoryRequest(Request):
    budget: Budget | None = None  # the request's size limits and sealing slot, once a file arrives

    def _get_file_stream(
        self,
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None = None,
        content_length: int | None = None,
    ) -> IO[bytes]:
        if self.budget is None:
            here = intake()
            limits = here.settings
            self.budget = Budget(limits.max_file_bytes, limits.max_total_bytes, limits.max_files, here.sealing)
        return SealingFile(filename or "", content_type or "", self.budget)  # type: ignore[return-value]  # write/seek/read is all werkzeug uses


def sealed_files(files: list[FileStorage], keep_original: bool, public: bytes) -> list[tuple[bytes, list[bytes]]]:
    """This request's files, sealed to ``public``; raises TooLarge or Busy (cases.limits)."""
    budget = getattr(request, "budget", None)
    return sealing.sealed_files(budget, [storage.stream for storage in files], keep_original, public)


def release_sealing(_error: BaseException | None) -> None:
    """At the end of each request: give back its sealing slot, if it took one."""
    budget = getattr(request, "budget", None)
    if budget is not None:
        budget.release()
