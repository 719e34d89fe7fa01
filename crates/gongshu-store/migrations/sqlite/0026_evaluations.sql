-- Issue 8: performance evaluation (绩效评价, SD-OPEN §5, SX-BIGDATA §24). An authority's
-- indicator weights, and each evaluation it runs: the period, the weights used and every
-- figure, frozen when computed, so a released report never changes under its readers.
CREATE TABLE evaluation_schemes (
    region_code TEXT PRIMARY KEY REFERENCES regions(code),
    doc TEXT NOT NULL,
    updated_by INTEGER REFERENCES users(id),
    updated_at TEXT NOT NULL
);

CREATE TABLE evaluations (
    id INTEGER PRIMARY KEY,
    region_code TEXT NOT NULL REFERENCES regions(code),
    period_from TEXT NOT NULL,
    period_to TEXT NOT NULL,
    -- draft (seen by the authority and auditors) or released (on the portal).
    state TEXT NOT NULL CHECK (state IN ('draft', 'released')),
    -- The scheme and the figures, as computed.
    doc TEXT NOT NULL,
    created_by INTEGER NOT NULL REFERENCES users(id),
    created_at TEXT NOT NULL,
    released_by INTEGER REFERENCES users(id),
    released_at TEXT,
    CHECK (period_from <= period_to)
);
CREATE INDEX evaluations_region ON evaluations(region_code, state, period_to);

-- The quality report of a version (issue 8), computed when it is published and kept, so
-- the trend and the evaluation read it instead of scanning the data again.
ALTER TABLE resource_versions ADD COLUMN quality TEXT;
