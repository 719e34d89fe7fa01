-- Issue 10: sign-in failures counted in the database, so the lockout holds across nodes
-- (an account or an address locked on one node is locked on all).
CREATE TABLE signin_failures (
    key TEXT PRIMARY KEY,
    count INTEGER NOT NULL,
    first_at TEXT NOT NULL,
    locked_until TEXT
);
