-- Issue 4: applications for conditionally open data (SD-OPEN §14) and the open-use
-- agreement (公共数据开放利用协议) they end in. The submitted content is kept as it was
-- sent, with its hash; it is never edited. Every state change is an event.
CREATE TABLE applications (
    id INTEGER PRIMARY KEY,
    dataset_id INTEGER NOT NULL REFERENCES datasets(id),
    applicant_id INTEGER NOT NULL REFERENCES users(id),
    state TEXT NOT NULL,
    -- The application as submitted (JSON) and its SHA-256.
    content TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    submitted_at TEXT NOT NULL,
    -- Working-day deadlines (China Standard Time dates) of the current step.
    due_on TEXT,
    due_provisional INTEGER NOT NULL DEFAULT 0,
    decided_at TEXT,
    decided_by INTEGER REFERENCES users(id),
    decision_reason TEXT,
    -- Set by the provider on approval; carried into the grant.
    quota_calls_per_day INTEGER,
    quota_rows_per_day INTEGER,
    agreement TEXT,
    agreement_hash TEXT,
    applicant_accepted_at TEXT,
    provider_accepted_at TEXT,
    provider_accepted_by INTEGER REFERENCES users(id),
    grant_id INTEGER REFERENCES grants(id),
    updated_at TEXT NOT NULL
);
CREATE INDEX applications_dataset ON applications(dataset_id);
CREATE INDEX applications_applicant ON applications(applicant_id);
