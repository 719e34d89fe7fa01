-- Matches SQLite's 0035_signin_failures.sql.
CREATE TABLE signin_failures (
    key TEXT COLLATE "C" PRIMARY KEY,
    count BIGINT NOT NULL,
    first_at TIMESTAMPTZ NOT NULL,
    locked_until TIMESTAMPTZ
);
