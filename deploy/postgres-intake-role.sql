-- Least privilege for the public intake app on PostgreSQL.
-- Replace :schema and :role (or run with psql -v). tests/test_intake_isolation.py runs the app
-- under this role and checks every table and column against an expected matrix.
--
-- Reads: the public intake keys and settings, and what the reporter's pages show; nothing of key
-- wraps, caseworker accounts, staff sessions, notes or the audit trail, and not the two columns
-- that are capabilities (a case's token lookup hash, a file's upload secret hash).
--
-- Writes: none directly (no INSERT, UPDATE or DELETE on any table). The intake files a new
-- case, adds a follow-up or details (migration 0007), erases its reply channel, opens a case and
-- stores chunks only through the SECURITY DEFINER functions of migrations 0004 and 0007 (it has
-- no privilege at all on report_details), owned by the schema owner with search_path
-- pinned. Each checks the capability for its change: a new case is only ever new (a repeated
-- submission returns the first case untouched); an existing case is reached only by the lookup
-- hash of its token; a file's chunks only with its upload secret (hashed inside the function),
-- never once the file is complete or the channel deleted. We chose functions over row-level
-- security because the rules are about *which* change, not which rows: with table privileges
-- the role could still set any column of a row it may reach (close a case, swap its key).
-- A compromised intake host can therefore add new reports, but not rewrite anyone's case.
GRANT USAGE ON SCHEMA :schema TO :role;
GRANT SELECT ON :schema.intake_keys TO :role;
GRANT SELECT ON :schema.settings TO :role;  -- public facts only: token KDF cost, recovery public key
GRANT SELECT (id, status, urgent, received_on, updated_on, acknowledged_on, closed_on, assigned_to, sealed_in,
              reporter_public_key, submission_key, triage_envelope, index_blob, notify_pending, receipt_box)
    ON :schema.cases TO :role;
GRANT SELECT ON :schema.submissions TO :role;
GRANT SELECT ON :schema.status_changes TO :role;
GRANT SELECT ON :schema.messages TO :role;
GRANT SELECT (id, case_id, message_id, intake_key_id, manifest, chunk_count, complete, created_on)
    ON :schema.attachments TO :role;
GRANT SELECT ON :schema.attachment_chunks TO :role;
GRANT EXECUTE ON FUNCTION
    :schema.intake_file_case(text, text, boolean, text, bytea, bytea, bytea, text, bytea, date,
                             text[], bytea[], integer[], text[], text[]),
    :schema.intake_open_case(bytea),
    :schema.intake_follow_up(bytea, bytea, bytea, date, text[], bytea[], integer[], text[], text[]),
    :schema.intake_delete_channel(bytea),
    :schema.intake_lock_upload(text, text),
    :schema.intake_record_chunk(text, text, integer, integer),
    :schema.intake_add_details(bytea, text, bytea, date)  -- migration 0007: details added later
    TO :role;
GRANT SELECT, INSERT, DELETE ON :schema.spent_challenges TO :role;  -- one use per challenge; expired rows purged
