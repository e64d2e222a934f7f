"""The key hierarchy end to end: init, unlock, grant, recovery, rotation, on a real database."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from cases import installation, keyring
from cases.intake_keys import current
from cases.models import Caseworker, Role, SealedIn, Submission
from crypto import token
from crypto.envelope import Purpose, open_envelope
from crypto.errors import BadPassword, CryptoError, UnknownKey

from .factories import file_case


def _file(session, settings, text: str) -> str:
    report = json.dumps({"what_happened": text}).encode()
    return file_case(session, raw_report=report, sealed_in=SealedIn.SERVER, settings=settings).case_id


def _read(session, ring: keyring.Keyring, case_id: str) -> str:
    sub = session.scalar(select(Submission).where(Submission.case_id == case_id))
    return json.loads(open_envelope(ring.private_keys(), Purpose.REPORT, sub.envelope))["what_happened"]


def _admin(session) -> Caseworker:
    return session.scalar(select(Caseworker).where(Caseworker.username == "admin"))


def test_admin_password_unlocks_reports(database, settings, installed) -> None:
    with database.session() as session:
        case_id = _file(session, settings, "first report")
    with database.session() as session:
        ring = keyring.unlock(session, _admin(session), installed.admin_password)
        assert _read(session, ring, case_id) == "first report"


def test_wrong_password_unlocks_nothing(database, installed) -> None:
    with database.session() as session, pytest.raises(BadPassword):
        keyring.unlock(session, _admin(session), "not the password at all")


def test_recovery_key_restores_access_when_passwords_are_lost(database, settings, installed) -> None:
    with database.session() as session:
        case_id = _file(session, settings, "kept safe")
    with database.session() as session:
        ring = keyring.unlock_with_recovery(session, installed.recovery_text.lower().replace("-", " "))
        assert _read(session, ring, case_id) == "kept safe"
        # ... and can grant a brand-new admin access, which then works on its own.
        fresh = installation.create_caseworker(
            session, "new-admin", "a brand new password", Role.ADMIN, settings.argon2
        )
        assert keyring.grant(session, ring, fresh) == 1
    with database.session() as session:
        fresh = session.scalar(select(Caseworker).where(Caseworker.username == "new-admin"))
        assert _read(session, keyring.unlock(session, fresh, "a brand new password"), case_id) == "kept safe"


def test_a_foreign_recovery_key_is_refused(database, installed) -> None:
    from crypto.keys import KeyPair
    from crypto.passwords import recovery_text

    with database.session() as session, pytest.raises(CryptoError, match="not this installation"):
        keyring.unlock_with_recovery(session, recovery_text(KeyPair.generate()))


def test_new_caseworker_reads_nothing_until_granted(database, settings, installed) -> None:
    with database.session() as session:
        case_id = _file(session, settings, "confidential")
        installation.create_caseworker(session, "bea", "bea's long password", Role.CASEWORKER, settings.argon2)
    with database.session() as session:
        bea = session.scalar(select(Caseworker).where(Caseworker.username == "bea"))
        ring = keyring.unlock(session, bea, "bea's long password")
        assert ring.intake == {}
        with pytest.raises(UnknownKey):
            _read(session, ring, case_id)
        admin_ring = keyring.unlock(session, _admin(session), installed.admin_password)
        assert keyring.grant(session, admin_ring, bea) == 1
        assert keyring.grant(session, admin_ring, bea) == 0  # granting twice adds nothing
    with database.session() as session:
        bea = session.scalar(select(Caseworker).where(Caseworker.username == "bea"))
        assert _read(session, keyring.unlock(session, bea, "bea's long password"), case_id) == "confidential"


def test_rotation_keeps_old_cases_readable_for_everyone(database, settings, installed) -> None:
    with database.session() as session:
        old_case = _file(session, settings, "before rotation")
        old_key = current(session).id
        installation.create_caseworker(session, "cai", "cai's long password", Role.CASEWORKER, settings.argon2)
        cai = session.scalar(select(Caseworker).where(Caseworker.username == "cai"))
        keyring.grant(session, keyring.unlock(session, _admin(session), installed.admin_password), cai)
    with database.session() as session:
        new_key = installation.rotate_intake_key(session)
        assert new_key.id != old_key
    with database.session() as session:
        assert current(session).id == new_key.id
        new_case = _file(session, settings, "after rotation")
    with database.session() as session:
        for name, password in (("admin", installed.admin_password), ("cai", "cai's long password")):
            worker = session.scalar(select(Caseworker).where(Caseworker.username == name))
            ring = keyring.unlock(session, worker, password)
            assert _read(session, ring, old_case) == "before rotation"
            assert _read(session, ring, new_case) == "after rotation"
        recovered = keyring.unlock_with_recovery(session, installed.recovery_text)
        assert _read(session, recovered, new_case) == "after rotation"


def test_private_keys_are_stored_only_locked_or_wrapped(database, settings, installed) -> None:
    """No column anywhere holds a raw private scalar of the admin or the intake key."""
    from sqlalchemy import text

    with database.session() as session:
        ring = keyring.unlock(session, _admin(session), installed.admin_password)
        secrets_ = [ring.owner.scalar, *(p.scalar for p in ring.intake.values())]
        dump = b""
        for table in ("caseworkers", "intake_keys", "wrapped_keys", "settings"):
            for row in session.execute(text(f"SELECT * FROM {table}")):
                for value in row:
                    dump += value if isinstance(value, bytes) else str(value).encode()
    for scalar in secrets_:
        assert scalar not in dump and scalar.hex().encode() not in dump


def test_token_cost_is_fixed_at_init_not_by_later_configuration(database, settings, installed) -> None:
    """Raising the configured argon2 cost later must not orphan tokens already handed out."""
    from cases import tokens
    from crypto.kdf import Argon2Params

    reporter_token = token.generate()
    with database.session() as session:
        before = tokens.derive(session, reporter_token, settings.pepper())
        assert tokens.kdf_params(session) == settings.argon2
    stronger = Argon2Params(settings.argon2.time_cost + 1, settings.argon2.memory_kib * 2, 1)
    assert token.derive(reporter_token, settings.pepper(), stronger).lookup != before.lookup
    with database.session() as session:
        assert tokens.derive(session, reporter_token, settings.pepper()).lookup == before.lookup


def test_rotation_goes_to_holders_of_the_current_key_only(database, settings, installed) -> None:
    with database.session() as session:
        installation.create_caseworker(session, "dee", "dee's long password", Role.CASEWORKER, settings.argon2)
        dee = session.scalar(select(Caseworker).where(Caseworker.username == "dee"))
        keyring.grant(session, keyring.unlock(session, _admin(session), installed.admin_password), dee)
        dee.disabled = True
    with database.session() as session:
        installation.rotate_intake_key(session)
    with database.session() as session:
        dee = session.scalar(select(Caseworker).where(Caseworker.username == "dee"))
        assert len(keyring.unlock(session, dee, "dee's long password").intake) == 1  # only the old key
        assert len(keyring.unlock(session, _admin(session), installed.admin_password).intake) == 2
