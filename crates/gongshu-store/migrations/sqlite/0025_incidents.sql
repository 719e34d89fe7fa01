-- Issue 7: security incidents (数据安全事件, SD-EGOV §31, SD-BIGDATA §38, 数据安全法 §29,
-- 个人信息保护法 §57). An authority records what happened, the data affected, the
-- measures taken and to whom it was reported; the record ends in a report. Columns are
-- what lists and the evaluation select on; the narrative is the JSON `doc`, owned by the
-- application. Every change is an event.
CREATE TABLE incidents (
    id INTEGER PRIMARY KEY,
    region_code TEXT NOT NULL REFERENCES regions(code),
    -- general, larger, major, especially_major (一般、较大、重大、特别重大).
    severity TEXT NOT NULL,
    -- leak, tamper, loss, attack, misuse, other.
    kind TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('open', 'closed')),
    occurred_on TEXT NOT NULL,
    discovered_on TEXT NOT NULL,
    doc TEXT NOT NULL,
    created_by INTEGER NOT NULL REFERENCES users(id),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    closed_at TEXT,
    version INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX incidents_region ON incidents(region_code, occurred_on);

-- The catalog entries whose data an incident touched.
CREATE TABLE incident_datasets (
    incident_id INTEGER NOT NULL REFERENCES incidents(id),
    dataset_id INTEGER NOT NULL REFERENCES datasets(id),
    PRIMARY KEY (incident_id, dataset_id)
) WITHOUT ROWID;
CREATE INDEX incident_datasets_dataset ON incident_datasets(dataset_id);
