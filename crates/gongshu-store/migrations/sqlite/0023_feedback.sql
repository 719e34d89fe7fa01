-- Issue 8: what the public sends back. Objections (异议/纠错, SD-OPEN §13) and data demands
-- (开放需求, SD-OPEN §12) are cases with an author, a provider that must answer, a
-- deadline in working days, and a state; reuse records (利用成果) and suggestions follow
-- the same shape. The columns are what lists, deadlines, the gate and the evaluation
-- select on; the rest of a case (its text, the answer, evidence) is the JSON `doc`, whose
-- form the application owns.
CREATE TABLE feedback (
    id INTEGER PRIMARY KEY,
    case_type TEXT NOT NULL CHECK (case_type IN ('objection', 'demand', 'reuse', 'suggestion')),
    dataset_id INTEGER REFERENCES datasets(id),
    -- The provider that must answer; NULL while the authority has yet to pick one.
    provider_id INTEGER REFERENCES organizations(id),
    -- The region whose authority oversees the case.
    region_code TEXT NOT NULL REFERENCES regions(code),
    author_id INTEGER NOT NULL REFERENCES users(id),
    state TEXT NOT NULL,
    -- Shown on the public board (demands, approved reuse records).
    public INTEGER NOT NULL DEFAULT 0 CHECK (public IN (0, 1)),
    -- The entry's data is withheld pending review (an infringement report).
    offline INTEGER NOT NULL DEFAULT 0 CHECK (offline IN (0, 1)),
    received_on TEXT,
    due_on TEXT,
    due_provisional INTEGER NOT NULL DEFAULT 0,
    answered_on TEXT,
    doc TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    version INTEGER NOT NULL DEFAULT 1,
    reminded_for TEXT,
    escalated_for TEXT
);
CREATE INDEX feedback_dataset ON feedback(dataset_id, case_type);
CREATE INDEX feedback_provider ON feedback(provider_id, case_type, state);
CREATE INDEX feedback_author ON feedback(author_id, case_type);
CREATE INDEX feedback_board ON feedback(case_type, public, id);
CREATE INDEX feedback_offline ON feedback(dataset_id) WHERE offline = 1;

-- Taking an entry offline or back changes what the access gate decides.
CREATE TRIGGER feedback_offline_generation AFTER UPDATE OF offline ON feedback
WHEN OLD.offline <> NEW.offline
BEGIN UPDATE catalog_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER feedback_insert_offline_generation AFTER INSERT ON feedback
WHEN NEW.offline = 1
BEGIN UPDATE catalog_generation SET n = n + 1 WHERE id = 1; END;

-- Ratings of an entry: one per user, changeable.
CREATE TABLE ratings (
    dataset_id INTEGER NOT NULL REFERENCES datasets(id),
    user_id INTEGER NOT NULL REFERENCES users(id),
    stars INTEGER NOT NULL CHECK (stars BETWEEN 1 AND 5),
    at TEXT NOT NULL,
    PRIMARY KEY (dataset_id, user_id)
);
