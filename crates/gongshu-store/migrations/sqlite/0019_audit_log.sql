-- Issue 7: the tamper-evident audit log. Entries are canonical JSON, numbered from 1 in
-- the order they were appended (leaf index = seq - 1); their hashes are recomputed from
-- the stored bytes, never stored, so an altered entry cannot come with a matching hash.
CREATE TABLE audit_log (
    seq INTEGER PRIMARY KEY,
    entry TEXT NOT NULL,
    -- For the auditors' filters; derived from the entry, so they cannot disagree with it.
    action TEXT GENERATED ALWAYS AS (json_extract(entry, '$.action')) VIRTUAL,
    actor INTEGER GENERATED ALWAYS AS (json_extract(entry, '$.actor')) VIRTUAL,
    dataset INTEGER GENERATED ALWAYS AS (json_extract(entry, '$.dataset')) VIRTUAL,
    at TEXT GENERATED ALWAYS AS (json_extract(entry, '$.time')) VIRTUAL
);
CREATE INDEX audit_log_dataset ON audit_log(dataset, seq);
CREATE INDEX audit_log_actor ON audit_log(actor, seq);

CREATE TRIGGER audit_log_append_only_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
CREATE TRIGGER audit_log_append_only_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;

-- Signed checkpoints: the log's size and head at a time. `frontier` is the compact range
-- at that size, from which the next checkpoint continues without rereading the log.
CREATE TABLE audit_checkpoints (
    size INTEGER PRIMARY KEY,
    checkpoint TEXT NOT NULL,
    frontier TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TRIGGER audit_checkpoints_append_only_update BEFORE UPDATE ON audit_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'audit checkpoints are append-only');
END;
CREATE TRIGGER audit_checkpoints_append_only_delete BEFORE DELETE ON audit_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'audit checkpoints are append-only');
END;
