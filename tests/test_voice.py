"""Voice notes: recorded in the page (voice.js), cleaned of the recorder's name, sealed and sent like
any file; without JavaScript an audio input a phone fills with its own recorder. The microphone is
allowed only on the two pages that record, played back only from the page's memory (blob:), and
the desk hands a voice note out as an opaque download, never as something it plays."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from cases.blobs import FilesystemBlobStore
from cases.models import Attachment
from intake.inline import STATIC
from web import headers as http

from .desk_helpers import logged_in_client
from .factories import file_case
from .live import CHROMIUM, CHROMIUM_ARGS, open_page
from .reporter_helpers import assert_bytes_not_at_rest, only_case, read_case
from .test_reporter_browser import open_status

NODE = shutil.which("node")
# Only these tests get a microphone: Chromium's fake device (a beep), allowed without a prompt.
FAKE_MICROPHONE = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
SAID = "They came at night and took my brother."
OGG_CANARY = b"VOICE-CANARY-recorded-on-Pixel-7"


# -- the WebM cleaner (intake/static/voice.js, under Node) ---------------------------------------


def _element(element_id: bytes, data: bytes) -> bytes:
    """An EBML element: its ID, an 8-byte size (as Chromium writes the Segment's), its data."""
    return element_id + bytes([0x01]) + len(data).to_bytes(7, "big") + data


def _string(element_id: bytes, value: bytes) -> bytes:
    return element_id + bytes([0x80 | len(value)]) + value  # a one-byte size, as in Chromium's Info


def webm_as_chromium_writes_it(audio: bytes = b"Chrome in the audio stays audio") -> bytes:
    header = _element(bytes.fromhex("1a45dfa3"), _string(bytes.fromhex("4282"), b"webm"))
    info = _element(
        bytes.fromhex("1549a966"),
        _string(bytes.fromhex("2ad7b1"), bytes.fromhex("0f4240"))
        + _string(bytes.fromhex("4d80"), b"Chrome")
        + _string(bytes.fromhex("5741"), b"Chrome")
        + _string(bytes.fromhex("7ba9"), b"Samsung SM-A515F"),
    )
    track = _element(
        bytes.fromhex("ae"), _string(bytes.fromhex("86"), b"A_OPUS") + _string(bytes.fromhex("536e"), b"Pixel 7 mic")
    )
    tracks = _element(bytes.fromhex("1654ae6b"), track)
    cluster = bytes.fromhex("1f43b675") + bytes.fromhex("01ffffffffffffff") + _string(bytes.fromhex("a3"), audio)
    # A live recording's Segment has an unknown size (all ones): the cleaner must still find Info.
    return header + bytes.fromhex("18538067") + bytes.fromhex("01ffffffffffffff") + info + tracks + cluster


def blank_webm(data: bytes) -> tuple[bytes, int]:
    if NODE is None:
        pytest.skip("node is not installed: cannot run intake/static/voice.js")
    script = (
        f"import {{ blankWebm }} from {json.dumps((STATIC / 'voice.js').as_uri())};"
        "import { readFileSync } from 'node:fs';"
        "const r = blankWebm(new Uint8Array(readFileSync(0)));"
        "process.stdout.write(JSON.stringify({ hex: Buffer.from(r.bytes).toString('hex'), blanked: r.blanked }));"
    )
    done = subprocess.run(
        [NODE, "--input-type=module", "-e", script], input=data, capture_output=True, check=True, timeout=30
    )
    result = json.loads(done.stdout)
    return bytes.fromhex(result["hex"]), int(result["blanked"])


def test_the_webm_cleaner_blanks_the_recorder_and_device_names_and_nothing_else() -> None:
    original = webm_as_chromium_writes_it()
    cleaned, blanked = blank_webm(original)
    assert blanked == 4  # MuxingApp, WritingApp, Title, the track's Name
    assert len(cleaned) == len(original), "same length: no offset or size moves"
    header_end = original.index(bytes.fromhex("1f43b675"))
    for name in (b"Chrome", b"Samsung", b"Pixel"):
        assert name not in cleaned[:header_end], name
    assert cleaned[header_end:] == original[header_end:], "the audio itself is untouched"
    assert b"A_OPUS" in cleaned and b"webm" in cleaned, "what a player needs stays"
    changed = [i for i, (a, b) in enumerate(zip(original, cleaned, strict=True)) if a != b]
    assert all(cleaned[i] == 0 for i in changed), "only zeros written"


def test_the_webm_cleaner_leaves_what_is_not_webm_alone() -> None:
    for data in (b"", b"OggS\x00\x02" + OGG_CANARY, bytes(64), b"\x1a\x45\xdf"):
        assert blank_webm(data) == (data, 0)


# -- headers: the microphone and blob: media only where a reporter records -----------------------


def _sources(csp: str, directive: str) -> list[str] | None:
    for part in csp.split(";"):
        name, *values = part.split()
        if name == directive:
            return values
    return None


@pytest.fixture
def status_page(intake_client, database, settings, installed, forms_without_wait):
    """The status page (with its follow-up form) of a case filed with a real token."""
    filed = file_case(database, settings=settings, answers={"what_happened": SAID})
    html = intake_client.get("/en/status").get_data(as_text=True)
    fields = dict(re.findall(r'name="(csrf|challenge)" value="([^"]*)"', html))
    response = intake_client.post("/en/status", data={**fields, "token": filed.token})
    assert 'id="follow-up"' in response.get_data(as_text=True)
    return response


def test_only_the_form_and_the_status_page_may_use_the_microphone(
    intake_client, status_page, desk_app, database
) -> None:
    recording = {path: intake_client.get(path) for path in ("/", "/en/", "/ar/", "/zh/")}
    recording["status page"] = status_page
    others = {
        path: intake_client.get(path)
        for path in ("/en/status", "/ru/safety", "/en/no-such-page", "/static/voice.js", "/intake-key", "/health")
    }
    # The details page seals too (the full script) but records nothing: no microphone there.
    add_details = re.search(r'(?s)<form[^>]*id="add-details".*?</form>', status_page.get_data(as_text=True))
    assert add_details is not None
    fields = dict(re.findall(r'name="(csrf|challenge|token)" value="([^"]*)"', add_details.group(0)))
    others["details page"] = intake_client.post("/en/details", data={**fields, "solution": ""})
    assert 'id="details"' in others["details page"].get_data(as_text=True)
    desk = logged_in_client(desk_app, database)
    others.update({f"desk {path}": desk.get(path) for path in ("/", "/login", "/account")})
    for name, response in recording.items():
        assert response.headers["Permissions-Policy"] == "camera=(), microphone=(self), geolocation=()", name
        assert _sources(response.headers["Content-Security-Policy"], "media-src") == ["blob:"], name
    for name, response in others.items():
        assert response.headers["Permissions-Policy"] == "camera=(), microphone=(), geolocation=()", name
        assert _sources(response.headers["Content-Security-Policy"], "media-src") is None, name


def test_the_policies_refuse_anything_but_blob_media_and_a_view_cannot_loosen_other_permissions() -> None:
    for media in (("*",), ("https:",), ("data:",), ("blob:", "'self'")):
        with pytest.raises(ValueError):
            http.policy(media=media)
    assert "media-src" not in http.policy()
    loosened = {"Permissions-Policy": "camera=(self), microphone=(self), geolocation=(self)"}
    http.apply(loosened)
    assert loosened["Permissions-Policy"] == http.PERMISSIONS
    kept = {"Permissions-Policy": http.RECORDING}
    http.apply(kept)
    assert kept["Permissions-Policy"] == http.RECORDING


def test_the_voice_control_is_on_both_recording_pages_and_the_audio_input_works_without_script(
    intake_client, status_page
) -> None:
    for html in (intake_client.get("/en/").get_data(as_text=True), status_page.get_data(as_text=True)):
        assert "Record a voice message" in html
        assert "locked on this device before it is sent. Nothing is kept on your phone." in html
        audio = re.search(r'<input id="f-voice"[^>]*>', html)
        assert audio is not None
        # Without JavaScript it is a file input the server reads with the others (name="files"),
        # a phone offers its recorder for it, and the warning about hidden information covers it.
        for attribute in (
            'type="file"',
            'name="files"',
            'accept="audio/*"',
            " capture",
            'aria-describedby="files-metadata"',
        ):
            assert attribute in audio.group(0)
        assert "audio" in re.search(r'id="files-metadata">([^<]*)<', html).group(1)
    form = intake_client.get("/en/").get_data(as_text=True)
    assert form.index('id="f-what_happened"') < form.index('id="voice-record"') < form.index('id="f-files"')
    # The recorder's code is not on the page: it is imported when Record is first tapped.
    assert "import('/static/voice.js')" in form and "getUserMedia" not in form


def test_a_voice_note_sent_without_script_reaches_the_desk_as_sent(
    intake_client, database, settings, installed, blobs, forms_without_wait
) -> None:
    html = intake_client.get("/en/").get_data(as_text=True)
    fields = dict(re.findall(r'name="(csrf|nonce|challenge)" value="([^"]*)"', html))
    note = b"OggS\x00\x02" + OGG_CANARY * 50
    response = intake_client.post(
        "/en/report",
        data={**fields, "what_happened": SAID, "files": [(io.BytesIO(note), "note.ogg", "audio/ogg")]},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    case = only_case(database)
    _, files = read_case(database, installed.admin_password, case.id, blobs)
    assert files == [("note.ogg", note)]
    assert_bytes_not_at_rest(database, Path(settings.blob_dir), [OGG_CANARY])


# -- the desk: a voice note is a download, never played or shown -------------------------------


def test_the_desk_hands_out_a_voice_note_as_an_opaque_attachment(desk_app, database, blobs) -> None:
    recording = webm_as_chromium_writes_it()
    filed = file_case(database, blobs=blobs, files=[("voice-message.webm", recording, "audio/webm")])
    with database.session() as session:
        attachment = session.scalars(select(Attachment.id).where(Attachment.case_id == filed.case_id)).one()
    client = logged_in_client(desk_app, database)
    page = client.get(f"/cases/{filed.case_id}").get_data(as_text=True)
    assert "voice-message.webm" in page
    assert not re.search(r"<(audio|video|source|embed|object|iframe)\b", page), "nothing is played in the desk"
    download = client.get(f"/cases/{filed.case_id}/files/{attachment}")
    assert download.status_code == 200 and download.get_data() == recording
    assert download.headers["Content-Type"] == "application/octet-stream"
    assert not re.match(r"(audio|video|text)/", download.headers["Content-Type"])
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert "inline" not in download.headers["Content-Disposition"]
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    assert download.headers["Content-Security-Policy"].startswith("sandbox")


# -- in Chromium, with a (fake) microphone ------------------------------------------------------


@pytest.fixture(scope="module")
def microphone_browser(browser) -> Iterator[object]:
    """A second Chromium, from the same Playwright as ``browser`` (one per process), with a microphone."""
    launched = browser.browser_type.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *FAKE_MICROPHONE])
    yield launched
    launched.close()


def _record(page, seconds: int = 2) -> str:
    """Tap Record, speak (the fake microphone beeps) until the shown length reaches ``seconds``,
    Stop; the recording's blob: URL."""
    assert page.is_visible("#voice-record") and not page.is_visible("#f-voice"), "the recorder replaces the input"
    page.click("#voice-record")
    page.wait_for_selector(f".voice-time:has-text('Recording… 0:0{seconds}')", timeout=10_000)
    page.click(".voice-js button:has-text('Stop')")
    page.wait_for_selector(".voice audio:not([hidden])", timeout=10_000)
    # Played back from the page's memory: the CSP allows blob: media here, and it loads.
    loaded = page.eval_on_selector(
        ".voice audio",
        "a => a.readyState >= 1 ? 'loaded' : new Promise(done => {"
        " a.addEventListener('loadedmetadata', () => done('loaded'));"
        " a.addEventListener('error', () => done('refused'));"
        " setTimeout(() => done('not loaded'), 8000); })",
    )
    assert loaded == "loaded"
    assert page.is_visible(".voice-js button:has-text('Record again')")
    assert page.is_visible(".voice-js button:has-text('Delete')")
    return str(page.eval_on_selector(".voice audio", "a => a.src"))


def _csp_refusals(page) -> list[str]:
    refused: list[str] = []
    page.on("console", lambda message: refused.append(message.text) if "Content Security" in message.text else None)
    return refused


def _is_clean_opus_webm(data: bytes) -> None:
    assert data.startswith(bytes.fromhex("1a45dfa3")) and b"webm" in data[:64], "a WebM file"
    assert b"A_OPUS" in data and b"OpusHead" in data, "Opus audio"
    assert len(data) > 2000, "about two seconds of sound"
    for name in (b"Chrome", b"Chromium", b"HeadlessChrome", b"Fake", b"Google"):
        assert name not in data, f"{name!r} left in the recording"


def _pieces(data: bytes) -> list[bytes]:
    """Slices of the recording's audio (past its header) to look for in clear."""
    return [data[i : i + 48] for i in range(len(data) // 3, len(data) - 48, max(len(data) // 5, 1))]


@pytest.mark.slow
def test_a_voice_note_recorded_on_the_form_is_cleaned_sealed_and_reaches_the_desk(
    microphone_browser, live, installed
) -> None:
    page = open_page(microphone_browser, live)
    refused = _csp_refusals(page)
    page.goto(live.url + "/en/")
    page.fill("#f-what_happened", SAID)
    assert _record(page).startswith("blob:" + live.url)
    assert page.input_value("#f-voice") != "" or page.evaluate("document.querySelector('#f-voice').files.length") == 1
    # Nothing warns about hidden information: the recorder's name was blanked.
    assert "voice-message" not in page.inner_text("#file-notes")
    page.click("#send")
    page.wait_for_selector("#token", timeout=60_000)
    page.wait_for_selector("#progress:has-text('All files were sent')", timeout=60_000)
    assert page.js_errors == [] and refused == []
    assert page.evaluate(
        "(async () => [localStorage.length, sessionStorage.length, (await indexedDB.databases()).length])()"
    ) == [0, 0, 0]

    case = only_case(live.database)
    report, files = read_case(
        live.database, installed.admin_password, case.id, FilesystemBlobStore(live.settings.blob_dir)
    )
    assert report["answers"]["what_happened"] == SAID
    assert [name for name, _ in files] == ["voice-message.webm"]
    recording = files[0][1]
    _is_clean_opus_webm(recording)
    pieces = _pieces(recording)
    assert len(pieces) >= 3
    for body in live.bodies:  # sealed on the device: no request carries the sound in clear
        assert not any(piece in body for piece in pieces)
    assert_bytes_not_at_rest(live.database, Path(live.settings.blob_dir), pieces)
    with live.database.session() as session:
        assert session.scalars(select(Attachment.complete)).all() == [True]


@pytest.mark.slow
def test_record_again_and_delete_leave_only_what_the_reporter_keeps(microphone_browser, live, installed) -> None:
    page = open_page(microphone_browser, live)
    page.goto(live.url + "/en/")
    first = _record(page, 1)
    page.click(".voice-js button:has-text('Record again')")
    page.wait_for_selector(".voice-time:has-text('Recording… 0:01')", timeout=10_000)
    page.click(".voice-js button:has-text('Stop')")
    page.wait_for_selector(".voice audio:not([hidden])")
    assert page.eval_on_selector(".voice audio", "a => a.src") != first
    assert page.evaluate("document.querySelector('#f-voice').files.length") == 1
    page.click(".voice-js button:has-text('Delete')")
    assert page.evaluate("document.querySelector('#f-voice').files.length") == 0
    assert not page.is_visible(".voice audio") and page.is_visible("#voice-record")
    page.fill("#f-what_happened", SAID)
    page.click("#send")
    page.wait_for_selector("#token", timeout=60_000)
    with live.database.session() as session:
        assert session.scalars(select(Attachment)).all() == [], "a deleted recording is not sent"
    assert page.js_errors == []


@pytest.mark.slow
def test_a_voice_note_sent_from_the_status_page_reaches_the_desk(microphone_browser, live, installed) -> None:
    page = open_page(microphone_browser, live)
    refused = _csp_refusals(page)
    page.goto(live.url + "/en/")
    page.fill("#f-what_happened", SAID)
    page.click("#send")
    page.wait_for_selector("#token", timeout=60_000)
    token = page.inner_text("#token").replace(" ", "")
    open_status(page, live, token, js=True)
    _record(page)
    page.click("#follow-up button[type=submit]")
    page.wait_for_selector(".thread .from-me", timeout=60_000)
    assert "1 file" in page.inner_text(".thread .from-me .who")
    assert page.js_errors == [] and refused == []
    case = only_case(live.database)
    _, files = read_case(live.database, installed.admin_password, case.id, FilesystemBlobStore(live.settings.blob_dir))
    assert [name for name, _ in files] == ["voice-message.webm"]
    _is_clean_opus_webm(files[0][1])
    assert_bytes_not_at_rest(live.database, Path(live.settings.blob_dir), _pieces(files[0][1]))


@pytest.mark.slow
def test_the_browser_refuses_the_microphone_on_every_other_page(microphone_browser, live) -> None:
    """The Permissions-Policy is what the browser enforces: with the same (always granting) fake
    microphone, the report form may record and the safety page or status lookup may not."""
    page = open_page(microphone_browser, live)
    ask = (
        "navigator.mediaDevices.getUserMedia({ audio: true })"
        ".then(s => { s.getTracks().forEach(t => t.stop()); return 'granted'; }, e => e.name)"
    )
    page.goto(live.url + "/en/")
    assert page.evaluate(ask) == "granted"
    for path in ("/en/safety", "/en/status"):
        page.goto(live.url + path)
        assert page.evaluate(ask) == "NotAllowedError", path


@pytest.mark.slow
def test_without_script_an_audio_file_chosen_in_the_voice_input_arrives(browser, live, installed) -> None:
    page = open_page(browser, live, js=False)
    page.goto(live.url + "/en/")
    assert page.is_visible("#f-voice") and not page.is_visible("#voice-record")
    page.fill("#f-what_happened", SAID)
    note = b"OggS\x00\x02" + OGG_CANARY * 40
    page.set_input_files("#f-voice", [{"name": "recording.ogg", "mimeType": "audio/ogg", "buffer": note}])
    page.wait_for_timeout(2100)  # the no-JS path only proves the form was open a moment
    page.click("#send")
    page.wait_for_selector("#token", timeout=60_000)
    case = only_case(live.database)
    _, files = read_case(live.database, installed.admin_password, case.id, FilesystemBlobStore(live.settings.blob_dir))
    assert files == [("recording.ogg", note)], "kept exactly as sent (the reporter was warned)"
    assert_bytes_not_at_rest(live.database, Path(live.settings.blob_dir), [OGG_CANARY])
