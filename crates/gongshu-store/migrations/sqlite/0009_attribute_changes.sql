-- Issue 4: changes of a published entry's open and share types (SD-OPEN §8, §10, §20(四)).
-- Toward more open a change is applied at once; toward less open it waits for the
-- authority. At most one change of an entry waits at a time.
CREATE TABLE attribute_changes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    dataset_id INTEGER NOT NULL REFERENCES datasets(id),
    requested_by INTEGER REFERENCES users(id),
    state TEXT NOT NULL,
    route TEXT NOT NULL,
    -- The provider's request as submitted (JSON), never changed afterwards.
    content TEXT NOT NULL,
    from_open TEXT NOT NULL,
    to_open TEXT NOT NULL,
    from_share TEXT NOT NULL,
    to_share TEXT NOT NULL,
    due_on TEXT,
    due_provisional INTEGER NOT NULL DEFAULT 0,
    decided_by INTEGER REFERENCES users(id),
    decided_at TEXT,
    decision_reason TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX attribute_changes_one_pending ON attribute_changes(dataset_id)
    WHERE state = 'pending';
CREATE INDEX attribute_changes_dataset ON attribute_changes(dataset_id, id);

-- The periodic review of 有条件共享 entries (SX-BIGDATA §28): when it is next due, the
-- last review, and the due date a reminder was last sent for.
CREATE TABLE share_reviews (
    dataset_id INTEGER PRIMARY KEY REFERENCES datasets(id),
    due_on TEXT NOT NULL,
    reviewed_at TEXT,
    reviewed_by INTEGER REFERENCES users(id),
    note TEXT,
    reminded_for TEXT
);
