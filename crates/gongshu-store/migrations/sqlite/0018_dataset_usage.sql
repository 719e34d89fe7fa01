-- Issue 6: how much each entry is used, per day (China time): whole downloads and row-API
-- calls. The portal's "most used" and the download ordering read the totals; the
-- evaluation (issue 8) reads the days.
CREATE TABLE dataset_usage (
    dataset_id INTEGER NOT NULL REFERENCES datasets(id),
    day TEXT NOT NULL,
    downloads INTEGER NOT NULL DEFAULT 0,
    api_calls INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (dataset_id, day)
) WITHOUT ROWID;
