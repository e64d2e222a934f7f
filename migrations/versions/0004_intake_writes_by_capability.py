"""intake writes by capability (PostgreSQL functions; nothing on SQLite)

The intake's database role gets no UPDATE or DELETE on any table and no INSERT either: every row
it creates or changes goes through one of these SECURITY DEFINER functions, which check the
capability the intake must prove for that change (the client nonce's hash for a new report, the
token's lookup hash for an existing case, an upload secret for a file's chunks) and write nothing
else. deploy/postgres-intake-role.sql grants EXECUTE on them and hides the capability columns.
cases/intake_writes.py is their only caller, and does the same with the ORM on SQLite.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SEALED_CHUNK = 64 * 1024 + 16  # crypto.stream.CHUNK_SIZE plus the AES-GCM tag

# Attachments of a new case or follow-up, declared together: ids, manifests, chunk counts,
# upload secret hashes, intake key ids (parallel arrays).
_ADD_UPLOADS = """
    INSERT INTO attachments (id, case_id, message_id, intake_key_id, manifest, chunk_count,
                             upload_secret_hash, complete, created_on)
    SELECT u.id, @CASE@, @MESSAGE@, u.key_id, u.manifest, u.chunks, u.secret_hash, false, p_day
    FROM unnest(p_ids, p_manifests, p_chunks, p_secret_hashes, p_key_ids)
         AS u(id, manifest, chunks, secret_hash, key_id);
    IF EXISTS (SELECT 1 FROM unnest(p_chunks) AS c WHERE c < 1) THEN
        RAISE EXCEPTION 'a file has at least one chunk';
    END IF;
"""
_UPLOAD_ARGS = "p_ids text[], p_manifests bytea[], p_chunks integer[], p_secret_hashes text[], p_key_ids text[]"
_SECRET_MATCHES = "upload_secret_hash = encode(sha256(convert_to('rri/v1 upload ' || p_secret, 'UTF8')), 'hex')"  # noqa: S105

FUNCTIONS = {
    "intake_file_case(text, text, boolean, text, bytea, bytea, bytea, text, bytea, date, "
    "text[], bytea[], integer[], text[], text[])": """
CREATE FUNCTION intake_file_case(
    p_id text, p_submission_key text, p_urgent boolean, p_sealed_in text, p_token_lookup bytea,
    p_reporter_key bytea, p_receipt_box bytea, p_intake_key_id text, p_envelope bytea, p_day date,
    @UPLOAD_ARGS@, OUT o_case_id text, OUT o_created boolean)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = @SCHEMA@, pg_temp AS $$
BEGIN
    -- A new case only: a repeat of the same submission finds the first one and changes nothing.
    INSERT INTO cases (id, status, urgent, received_on, updated_on, sealed_in, token_lookup,
                       reporter_public_key, submission_key, receipt_box, notify_pending)
    VALUES (p_id, 'received', p_urgent, p_day, p_day, p_sealed_in, p_token_lookup, p_reporter_key,
            p_submission_key, p_receipt_box, p_urgent)
    ON CONFLICT (submission_key) DO NOTHING
    RETURNING id INTO o_case_id;
    IF o_case_id IS NULL THEN
        SELECT c.id INTO o_case_id FROM cases c WHERE c.submission_key = p_submission_key;
        o_created := false;
        RETURN;
    END IF;
    o_created := true;
    INSERT INTO submissions (case_id, received_on, intake_key_id, envelope)
    VALUES (o_case_id, p_day, p_intake_key_id, p_envelope);
    INSERT INTO status_changes (case_id, status, changed_on) VALUES (o_case_id, 'received', p_day);
    @ADD_UPLOADS(o_case_id, NULL::integer)@
END $$""",
    "intake_open_case(bytea)": """
CREATE FUNCTION intake_open_case(p_token_lookup bytea) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = @SCHEMA@, pg_temp AS $$
DECLARE v_id text;
BEGIN
    -- The token reached its owner: its receipt box has nothing left to show.
    UPDATE cases SET receipt_box = NULL WHERE token_lookup = p_token_lookup RETURNING id INTO v_id;
    RETURN v_id;
END $$""",
    "intake_follow_up(bytea, bytea, bytea, date, text[], bytea[], integer[], text[], text[])": """
CREATE FUNCTION intake_follow_up(
    p_token_lookup bytea, p_team bytea, p_mine bytea, p_day date, @UPLOAD_ARGS@) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = @SCHEMA@, pg_temp AS $$
DECLARE v_case text; v_key bytea; v_message integer;
BEGIN
    SELECT id, reporter_public_key INTO v_case, v_key FROM cases
    WHERE token_lookup = p_token_lookup FOR UPDATE;
    IF v_case IS NULL THEN
        RETURN NULL;
    END IF;
    IF p_mine IS NOT NULL AND v_key IS NULL THEN
        RAISE EXCEPTION 'this case''s reply channel was deleted';
    END IF;
    INSERT INTO messages (case_id, direction, sent_on, team_envelope, reporter_envelope)
    VALUES (v_case, 'from_reporter', p_day, p_team, p_mine) RETURNING id INTO v_message;
    UPDATE cases SET updated_on = p_day, notify_pending = true WHERE id = v_case;
    @ADD_UPLOADS(v_case, v_message)@
    RETURN v_message;
END $$""",
    "intake_delete_channel(bytea)": """
CREATE FUNCTION intake_delete_channel(p_token_lookup bytea) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = @SCHEMA@, pg_temp AS $$
DECLARE v_case text;
BEGIN
    SELECT id INTO v_case FROM cases WHERE token_lookup = p_token_lookup FOR UPDATE;
    IF v_case IS NULL THEN
        RETURN false;
    END IF;
    UPDATE messages SET reporter_envelope = NULL WHERE case_id = v_case;
    UPDATE status_changes SET reporter_envelope = NULL WHERE case_id = v_case;
    UPDATE attachments SET upload_secret_hash = NULL WHERE case_id = v_case;
    -- A random lookup nobody can derive: a token found later opens nothing.
    UPDATE cases SET reporter_public_key = NULL, receipt_box = NULL,
        token_lookup = sha256(uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()))
    WHERE id = v_case;
    RETURN true;
END $$""",
    "intake_lock_upload(text, text)": """
CREATE FUNCTION intake_lock_upload(
    p_id text, p_secret text, OUT o_chunk_count integer, OUT o_complete boolean)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = @SCHEMA@, pg_temp AS $$
BEGIN
    -- Row-locked until the caller's transaction ends, so one file's chunks are recorded one
    -- at a time and the last of them sees all the others.
    SELECT chunk_count, complete INTO o_chunk_count, o_complete FROM attachments
    WHERE id = p_id AND @SECRET_MATCHES@ FOR UPDATE;
END $$""",
    "intake_record_chunk(text, text, integer, integer)": """
CREATE FUNCTION intake_record_chunk(p_id text, p_secret text, p_index integer, p_size integer)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = @SCHEMA@, pg_temp AS $$
DECLARE v_count integer; v_complete boolean; v_have integer;
BEGIN
    SELECT chunk_count, complete INTO v_count, v_complete FROM attachments
    WHERE id = p_id AND @SECRET_MATCHES@ FOR UPDATE;
    IF v_count IS NULL THEN
        RAISE EXCEPTION 'no live upload capability for this file';
    END IF;
    IF v_complete THEN
        RETURN true;  -- a finished file is never rewritten
    END IF;
    IF p_index < 0 OR p_index >= v_count THEN
        RAISE EXCEPTION 'chunk index out of range';
    END IF;
    IF (p_index < v_count - 1 AND p_size <> @SEALED_CHUNK@) OR p_size < 16 OR p_size > @SEALED_CHUNK@ THEN
        RAISE EXCEPTION 'chunk size does not fit its position';
    END IF;
    INSERT INTO attachment_chunks (attachment_id, index, size) VALUES (p_id, p_index, p_size)
    ON CONFLICT (attachment_id, index) DO UPDATE SET size = EXCLUDED.size;
    SELECT count(*) INTO v_have FROM attachment_chunks WHERE attachment_id = p_id;
    IF v_have = v_count THEN
        UPDATE attachments SET complete = true WHERE id = p_id;
        RETURN true;
    END IF;
    RETURN false;
END $$""",
}


def _render(body: str, schema: str) -> str:
    for case, message in (("o_case_id", "NULL::integer"), ("v_case", "v_message")):
        uploads = _ADD_UPLOADS.replace("@CASE@", case).replace("@MESSAGE@", message)
        body = body.replace(f"@ADD_UPLOADS({case}, {message})@", uploads)
    return (
        body.replace("@UPLOAD_ARGS@", _UPLOAD_ARGS)
        .replace("@SECRET_MATCHES@", _SECRET_MATCHES)
        .replace("@SEALED_CHUNK@", str(SEALED_CHUNK))
        .replace("@SCHEMA@", schema)
    )


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite has no roles: cases/intake_writes.py does the same with the ORM
    bind = op.get_bind()
    schema = bind.exec_driver_sql("SELECT quote_ident(current_schema())").scalar_one()
    for signature, body in FUNCTIONS.items():
        bind.exec_driver_sql(_render(body, schema))
        # Functions are executable by PUBLIC by default; only the intake role gets them.
        bind.exec_driver_sql(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for signature in FUNCTIONS:
        op.get_bind().exec_driver_sql(f"DROP FUNCTION {signature}")
