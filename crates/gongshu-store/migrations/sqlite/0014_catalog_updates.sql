-- SD-EGOV §16: when a law or a department's duties change, the department updates its
-- catalog within 15 working days. Each such duty is recorded with its deadline, reminded
-- and escalated like an application, and closed by the provider saying what it did.
CREATE TABLE catalog_updates (
    id INTEGER PRIMARY KEY,
    provider_id INTEGER NOT NULL REFERENCES organizations(id),
    cause TEXT NOT NULL CHECK (cause IN ('law', 'duties')),
    basis TEXT NOT NULL,
    received_on TEXT NOT NULL,
    due_on TEXT NOT NULL,
    due_provisional INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'done')),
    created_by INTEGER REFERENCES users(id),
    created_at TEXT NOT NULL,
    closed_by INTEGER REFERENCES users(id),
    closed_at TEXT,
    close_note TEXT,
    reminded_for TEXT,
    escalated_for TEXT
);
CREATE INDEX catalog_updates_provider ON catalog_updates(provider_id, state);
