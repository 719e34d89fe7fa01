-- Regions (GB/T 2260), organisations, people, credentials and the catalog.

CREATE TABLE regions (
    code TEXT PRIMARY KEY NOT NULL CHECK (length(code) = 6),
    name TEXT NOT NULL
);

CREATE TABLE organizations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    name_en TEXT NOT NULL DEFAULT '',
    kind TEXT NOT NULL CHECK (kind IN ('provider', 'authority')),
    region_code TEXT NOT NULL REFERENCES regions(code),
    credit_code TEXT NOT NULL UNIQUE,
    contact TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL
);
CREATE INDEX organizations_region ON organizations(region_code);

CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL UNIQUE COLLATE NOCASE,
    display_name TEXT NOT NULL,
    kind TEXT NOT NULL,
    password_hash TEXT,
    disabled INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);

CREATE TABLE role_grants (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    org_id INTEGER REFERENCES organizations(id),
    region_code TEXT REFERENCES regions(code),
    UNIQUE (user_id, role, org_id, region_code)
);
CREATE INDEX role_grants_user ON role_grants(user_id);

-- Sessions and API tokens: only a SHA-256 of the secret is kept.
CREATE TABLE credentials (
    token_hash TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('session', 'api')),
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf TEXT,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX credentials_user ON credentials(user_id);

CREATE TABLE code_sequences (
    category_code TEXT PRIMARY KEY NOT NULL,
    next INTEGER NOT NULL
);

-- The working copy of every catalog entry. `version` rises on every write and is the
-- optimistic-concurrency token.
CREATE TABLE datasets (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    code TEXT NOT NULL UNIQUE,
    provider_id INTEGER NOT NULL REFERENCES organizations(id),
    region_code TEXT NOT NULL REFERENCES regions(code),
    status TEXT NOT NULL,
    version INTEGER NOT NULL,
    title TEXT NOT NULL,
    doc TEXT NOT NULL,
    review_note TEXT,
    published_version INTEGER,
    first_published_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX datasets_provider ON datasets(provider_id, status);
CREATE INDEX datasets_region ON datasets(region_code, status);

-- Every revision of every entry, never updated or deleted.
CREATE TABLE dataset_revisions (
    dataset_id INTEGER NOT NULL REFERENCES datasets(id),
    version INTEGER NOT NULL,
    status TEXT NOT NULL,
    doc TEXT NOT NULL,
    actor_id INTEGER REFERENCES users(id),
    note TEXT,
    published INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    PRIMARY KEY (dataset_id, version)
);
CREATE TRIGGER dataset_revisions_no_update BEFORE UPDATE ON dataset_revisions
BEGIN SELECT RAISE(ABORT, 'dataset revisions are append-only'); END;
CREATE TRIGGER dataset_revisions_no_delete BEFORE DELETE ON dataset_revisions
BEGIN SELECT RAISE(ABORT, 'dataset revisions are append-only'); END;

-- What the public sees: exactly the published version of each entry. Public reads touch
-- only this table, so an unpublished draft cannot leak through any list, count or detail.
CREATE TABLE published_datasets (
    id INTEGER PRIMARY KEY REFERENCES datasets(id),
    code TEXT NOT NULL UNIQUE,
    provider_id INTEGER NOT NULL REFERENCES organizations(id),
    region_code TEXT NOT NULL,
    version INTEGER NOT NULL,
    title TEXT NOT NULL,
    open_type TEXT NOT NULL,
    share_type TEXT NOT NULL,
    update_cycle TEXT NOT NULL,
    grade TEXT NOT NULL,
    domains TEXT NOT NULL,
    search_text TEXT NOT NULL,
    doc TEXT NOT NULL,
    published_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX published_region ON published_datasets(region_code);
CREATE INDEX published_provider ON published_datasets(provider_id);
CREATE INDEX published_updated ON published_datasets(updated_at DESC, id DESC);
