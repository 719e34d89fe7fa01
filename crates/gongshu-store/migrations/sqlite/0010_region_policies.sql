-- Issue 4: what a region's authority sets for its region and the regions under it: the
-- routing of applications and sharing requests, their working-day deadlines, and the
-- open-use agreement template (JSON; absent fields are inherited from above).
CREATE TABLE region_policies (
    region_code TEXT PRIMARY KEY REFERENCES regions(code),
    policy TEXT NOT NULL,
    updated_by INTEGER REFERENCES users(id),
    updated_at TEXT NOT NULL
);
