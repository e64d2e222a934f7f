"""Evidence sent later from the status page, in real headless Chromium with JavaScript on and off:
the reporter sees what happened to their files, and the desk can open every one of them."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from cases.blobs import FilesystemBlobStore
from cases.models import Attachment, Case, Status

from .live import open_page
from .reporter_helpers import CANARY, PHOTO_CANARY, assert_no_canary_at_rest, png_with_metadata, read_case
from .test_reporter_browser import open_status

pytestmark = pytest.mark.slow
MAX_FILE_MB = 1


@pytest.fixture
def env(env: dict[str, str]) -> dict[str, str]:
    return {**env, "RRI_MAX_FILE_MB": str(MAX_FILE_MB)}


PDF = b"%PDF-1.4\n1 0 obj << /Author (" + CANARY.encode() + b") >> endobj\ntrailer << >>\n%%EOF\n"


def _report(page, live, js: bool) -> str:
    """Send a short report with no file; the token it gives."""
    page.goto(live.url + "/en/")
    page.fill("#f-what_happened", "They searched our office.")
    if not js:
        page.wait_for_timeout(2100)  # the no-JS path only proves the form was open a moment
    page.click("#send")
    page.wait_for_selector("#token", timeout=60_000)
    return page.inner_text("#token").replace(" ", "")


def _desk_files(live, password: str) -> list[tuple[str, bytes]]:
    with live.database.session() as session:
        case_id = session.scalars(select(Case.id)).one()
    _, files = read_case(live.database, password, case_id, FilesystemBlobStore(live.settings.blob_dir))
    return files


@pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])
def test_a_photo_sent_from_the_status_page_reaches_the_desk(browser, live, installed, js) -> None:
    page = open_page(browser, live, js=js)
    token = _report(page, live, js)
    open_status(page, live, token, js)

    page.set_input_files("#f-files", [{"name": "photo.png", "mimeType": "image/png", "buffer": png_with_metadata()}])
    if js:  # the reporter is told, before sending, what the photo gave away
        page.wait_for_selector("#file-notes:has-text('Hidden information removed from photo.png')", timeout=10_000)
    else:
        page.wait_for_timeout(2100)
    page.click("#follow-up button[type=submit]")
    page.wait_for_selector(".thread .from-me", timeout=60_000)
    assert "1 file" in page.inner_text(".thread .from-me .who")
    assert page.js_errors == []

    files = _desk_files(live, installed.admin_password)
    assert [name for name, _ in files] == ["photo.png"]
    photo = files[0][1]
    assert photo.startswith(b"\x89PNG") and PHOTO_CANARY.encode() not in photo, "the photo's metadata must be gone"
    with live.database.session() as session:
        assert all(a.complete for a in session.scalars(select(Attachment)))
    assert_no_canary_at_rest(live.database, live.settings, PHOTO_CANARY)


@pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])
def test_files_only_follow_up_with_a_document_is_sent_and_warned_about(browser, live, installed, js) -> None:
    page = open_page(browser, live, js=js)
    token = _report(page, live, js)
    open_status(page, live, token, js)
    warning = "We cannot remove hidden information"
    if js:  # said once a document is chosen
        page.set_input_files("#f-files", [{"name": "statement.pdf", "mimeType": "application/pdf", "buffer": PDF}])
        page.wait_for_selector(f"#file-notes:has-text('{warning} from statement.pdf')", timeout=10_000)
    else:  # said next to the file input, before choosing
        assert warning in page.inner_text("#files-metadata")
        page.set_input_files("#f-files", [{"name": "statement.pdf", "mimeType": "application/pdf", "buffer": PDF}])
        page.wait_for_timeout(2100)
    page.click("#follow-up button[type=submit]")
    page.wait_for_selector(".thread .from-me", timeout=60_000)
    assert page.js_errors == []
    assert _desk_files(live, installed.admin_password) == [("statement.pdf", PDF)]  # kept exactly as sent


def test_a_follow_up_file_over_the_limit_is_explained_on_the_status_page(browser, live) -> None:
    page = open_page(browser, live, js=True)
    token = _report(page, live, js=True)
    open_status(page, live, token, js=True)
    big = b"\0" * (MAX_FILE_MB * 1024 * 1024 + 1)
    page.set_input_files("#f-files", [{"name": "huge.mp4", "mimeType": "video/mp4", "buffer": big}])
    page.click("#follow-up button[type=submit]")
    # said next to the file input (its message, named by the input's aria-describedby)
    page.wait_for_selector("#files-error:has-text('This file is too big: huge.mp4')", timeout=10_000)
    assert f"The limit is {MAX_FILE_MB} MB per file" in page.inner_text("#files-error")
    with live.database.session() as session:
        assert session.get_one(Case, session.scalars(select(Case.id)).one()).status is Status.RECEIVED
        assert session.scalars(select(Attachment)).all() == []
