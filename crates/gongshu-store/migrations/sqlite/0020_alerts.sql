-- Issue 7: alerts raised by the monitoring rules over the audit log, with the entries
-- that are their evidence, and how far the monitor has read.
CREATE TABLE alerts (
    id INTEGER PRIMARY KEY,
    rule TEXT NOT NULL,
    -- Who or what it is about: `user:7`, `client:<pseudonym>`.
    subject TEXT NOT NULL,
    dataset_id INTEGER REFERENCES datasets(id),
    summary_zh TEXT NOT NULL,
    summary_en TEXT NOT NULL,
    -- JSON array of audit entry numbers.
    evidence TEXT NOT NULL,
    first_at TEXT NOT NULL,
    last_at TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX alerts_dataset ON alerts(dataset_id, id);

CREATE TABLE monitor_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    last_seq INTEGER NOT NULL
);
