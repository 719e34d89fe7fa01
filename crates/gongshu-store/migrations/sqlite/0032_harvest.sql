-- Issue 10: harvesting (SD-OPEN §7: existing open-data channels merged into the unified
-- platform). A source is another catalog (CKAN, DCAT, another Gongshu) read on a
-- schedule into one provider's catalog; `doc` is the application's JSON (name, kind,
-- address, defaults). A run is claimed on the source's row (`running_run`), so of
-- several nodes only one runs it.
CREATE TABLE harvest_sources (
    id INTEGER PRIMARY KEY,
    -- None for a federation member's source, whose entries keep their own providers.
    provider_id INTEGER REFERENCES organizations(id),
    doc TEXT NOT NULL,
    enabled INTEGER NOT NULL DEFAULT 1,
    next_run_at TEXT NOT NULL,
    running_run INTEGER,
    running_since TEXT,
    created_by INTEGER REFERENCES users(id),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    version INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX harvest_sources_due ON harvest_sources(enabled, next_run_at);

CREATE TABLE harvest_runs (
    id INTEGER PRIMARY KEY,
    source_id INTEGER NOT NULL REFERENCES harvest_sources(id),
    state TEXT NOT NULL CHECK (state IN ('running', 'finished', 'failed')),
    started_at TEXT NOT NULL,
    finished_at TEXT,
    -- The report: counts created / updated / unchanged / withdrawn / errors, and each
    -- record's problem.
    doc TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX harvest_runs_source ON harvest_runs(source_id, id);

-- Which local entry each remote record became: a re-run finds it here, so it never
-- creates a second one. `withdrawn` says the harvest withdrew it (the record left its
-- source), not a person.
CREATE TABLE harvest_records (
    source_id INTEGER NOT NULL REFERENCES harvest_sources(id),
    remote_id TEXT NOT NULL,
    dataset_id INTEGER NOT NULL UNIQUE REFERENCES datasets(id),
    content_hash TEXT NOT NULL,
    withdrawn INTEGER NOT NULL DEFAULT 0,
    doc TEXT NOT NULL DEFAULT '{}',
    updated_at TEXT NOT NULL,
    PRIMARY KEY (source_id, remote_id)
);
