-- Issue 10: federation (SD-EGOV §10, §15; SD-BIGDATA §12). On a province platform, each
-- member (a city's platform) pushes its published catalog in signed requests; its
-- entries are recorded as the records of a harvest source of its own, so they carry
-- their origin. `last_seq` refuses a replayed request.
CREATE TABLE federation_members (
    id INTEGER PRIMARY KEY,
    source_id INTEGER NOT NULL UNIQUE REFERENCES harvest_sources(id),
    region_code TEXT NOT NULL,
    doc TEXT NOT NULL,
    enroll_token_hash TEXT UNIQUE,
    public_key TEXT,
    last_seq INTEGER NOT NULL DEFAULT 0,
    last_sync_at TEXT,
    report TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL
);

-- On a city platform: the province it reports to (one at most), and what it last sent.
CREATE TABLE federation_upstream (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    province_url TEXT NOT NULL,
    member_id INTEGER NOT NULL,
    seq INTEGER NOT NULL DEFAULT 0,
    last_sync_at TEXT,
    report TEXT NOT NULL DEFAULT '{}',
    enrolled_at TEXT NOT NULL
);
CREATE TABLE federation_sent (
    code TEXT PRIMARY KEY,
    content_hash TEXT NOT NULL
);
