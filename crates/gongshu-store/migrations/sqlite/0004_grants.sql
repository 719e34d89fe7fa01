-- Issue 4: grants, what an approved application (开放利用协议) or sharing request gives,
-- and their daily use against the quota. A grant is held by one user (opening) or one
-- department (sharing); it is never deleted, only terminated, so its history stays.
CREATE TABLE grants (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('open', 'share')),
    dataset_id INTEGER NOT NULL REFERENCES datasets(id),
    holder_user_id INTEGER REFERENCES users(id),
    holder_org_id INTEGER REFERENCES organizations(id),
    -- JSON array of download | api | sandbox | verification.
    modes TEXT NOT NULL,
    purpose TEXT NOT NULL,
    valid_from TEXT NOT NULL,
    valid_until TEXT NOT NULL,
    quota_calls_per_day INTEGER,
    quota_rows_per_day INTEGER,
    terminated_at TEXT,
    terminated_reason TEXT,
    created_by INTEGER REFERENCES users(id),
    created_at TEXT NOT NULL,
    CHECK ((holder_user_id IS NULL) <> (holder_org_id IS NULL)),
    CHECK (valid_from < valid_until)
);
CREATE INDEX grants_dataset ON grants(dataset_id);

-- One row per grant and China Standard Time day.
CREATE TABLE grant_usage (
    grant_id INTEGER NOT NULL REFERENCES grants(id),
    day TEXT NOT NULL,
    calls INTEGER NOT NULL DEFAULT 0,
    rows INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (grant_id, day)
);
