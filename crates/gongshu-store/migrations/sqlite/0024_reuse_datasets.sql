-- Issue 8: a reuse record (利用成果, SD-OPEN §15-17) names every entry it is built on, so
-- that each entry's page can show what was made with it.
CREATE TABLE feedback_datasets (
    feedback_id INTEGER NOT NULL REFERENCES feedback(id),
    dataset_id INTEGER NOT NULL REFERENCES datasets(id),
    PRIMARY KEY (feedback_id, dataset_id)
);
CREATE INDEX feedback_datasets_dataset ON feedback_datasets(dataset_id);
