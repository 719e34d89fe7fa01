-- Issue 4: the working-day calendar, and the event record every governed workflow writes.

-- One State Council notice per year, in holiday-cn's JSON shape. `official` rows are
-- copied from the schedules the binary ships; an administrator's entry is `admin` and
-- is never overwritten by them.
CREATE TABLE holiday_schedules (
    year INTEGER PRIMARY KEY,
    schedule TEXT NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('official', 'admin')),
    updated_by INTEGER REFERENCES users(id),
    updated_at TEXT NOT NULL
);

-- Every state change of a governed object (calendar year, change request, sharing
-- request, application, agreement, grant): who, when, what and why. The objects' own
-- tables hold their current state; this is their history, and the feed of the
-- tamper-evident audit log. Rows are only ever inserted.
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor_id INTEGER REFERENCES users(id),
    object_type TEXT NOT NULL,
    object_id TEXT NOT NULL,
    action TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    -- JSON: what changed, in the object's own terms.
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX events_object ON events(object_type, object_id, id);

CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only');
END;
CREATE TRIGGER events_append_only_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only');
END;
