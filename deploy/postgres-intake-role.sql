-- Least privilege for the public intake app on PostgreSQL.
-- Replace :schema and :role (or run with psql -v). The intake role can file reports, store
-- attachment chunks and read the public intake keys, and can do nothing with key wraps,
-- caseworker accounts, staff sessions, notes or the audit trail: a compromised intake host cannot
-- even read the wrapped keys. tests/test_intake_isolation.py runs the app under this role.
GRANT USAGE ON SCHEMA :schema TO :role;
GRANT SELECT ON :schema.intake_keys TO :role;
GRANT SELECT ON :schema.settings TO :role;  -- public facts only: token KDF cost, recovery public key
GRANT SELECT, INSERT, UPDATE ON :schema.cases TO :role;
GRANT SELECT, INSERT ON :schema.submissions TO :role;
GRANT SELECT, INSERT, UPDATE ON :schema.status_changes TO :role;  -- UPDATE: a reporter erasing their copies
GRANT SELECT, INSERT, UPDATE ON :schema.messages TO :role;
GRANT SELECT, INSERT, UPDATE ON :schema.attachments TO :role;
GRANT SELECT, INSERT ON :schema.attachment_chunks TO :role;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA :schema TO :role;
GRANT SELECT, INSERT, DELETE ON :schema.spent_challenges TO :role;  -- one use per challenge; expired rows purged
