-- Issue 9: verification services (核验, R7.3). A provider enables verification on a
-- resource; `doc` (the application's JSON) says which key columns are matched, what the
-- answer says, and how many checks a grant may make a day.
CREATE TABLE verification_services (
    resource_id TEXT PRIMARY KEY REFERENCES resources(id),
    doc TEXT NOT NULL,
    updated_by INTEGER REFERENCES users(id),
    updated_at TEXT NOT NULL
);

-- Checks made per day by one grant (`grant:ID`), or by one person where no grant is
-- needed (`user:ID`), on one resource; taken before the lookup runs, so that requests
-- arriving together cannot pass the daily limit.
CREATE TABLE verification_usage (
    who TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    day TEXT NOT NULL,
    checks INTEGER NOT NULL,
    PRIMARY KEY (who, resource_id, day)
);
