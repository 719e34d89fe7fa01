-- Issue 9: the sandbox's differential-privacy mode, per grant. The provider sets the
-- mechanism, the ε budget and per query, the declared bounds of summed columns and the
-- rows one person has at most (the application's JSON `doc`); `spent` is the ε the
-- grant's queries have used, raised in the same statement that checks the budget.
CREATE TABLE grant_privacy (
    grant_id INTEGER PRIMARY KEY REFERENCES grants(id),
    doc TEXT NOT NULL,
    budget REAL NOT NULL CHECK (budget > 0),
    spent REAL NOT NULL DEFAULT 0,
    updated_by INTEGER REFERENCES users(id),
    updated_at TEXT NOT NULL
);
