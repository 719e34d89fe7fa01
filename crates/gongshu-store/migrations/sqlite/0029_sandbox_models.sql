-- Issue 9 (R7.2): models a provider publishes over its data: a parameterised aggregate
-- query, checked by the sandbox's guard when saved, that grantees (or, if the provider
-- chooses, the public) run with their own parameter values without review. The query,
-- its parameters and its descriptions are the application's JSON `doc`.
CREATE TABLE sandbox_models (
    id INTEGER PRIMARY KEY,
    dataset_id INTEGER NOT NULL REFERENCES datasets(id),
    provider_id INTEGER NOT NULL REFERENCES organizations(id),
    public INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL CHECK (state IN ('active', 'retired')),
    doc TEXT NOT NULL,
    created_by INTEGER NOT NULL REFERENCES users(id),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX sandbox_models_dataset ON sandbox_models(dataset_id, state);
