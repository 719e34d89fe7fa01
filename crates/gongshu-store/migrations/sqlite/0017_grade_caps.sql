-- Issue 5: the grade → cap table (highest open type, de-identification required), as the
-- province's authority sets it; absent, the default that ships applies. One row.
CREATE TABLE grade_caps (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    caps TEXT NOT NULL,
    updated_by INTEGER REFERENCES users(id),
    updated_at TEXT NOT NULL
);
