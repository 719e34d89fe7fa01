-- Issue 10: the change feed every node's search index follows. Each change of what the
-- public sees of an entry (published, replaced, withdrawn) appends its id here, in the
-- same transaction as the change.
CREATE TABLE catalog_changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    dataset_id INTEGER NOT NULL
);
CREATE TRIGGER catalog_changes_insert AFTER INSERT ON published_datasets
BEGIN
    INSERT INTO catalog_changes (dataset_id) VALUES (NEW.id);
END;
CREATE TRIGGER catalog_changes_update AFTER UPDATE ON published_datasets
BEGIN
    INSERT INTO catalog_changes (dataset_id) VALUES (NEW.id);
END;
CREATE TRIGGER catalog_changes_delete AFTER DELETE ON published_datasets
BEGIN
    INSERT INTO catalog_changes (dataset_id) VALUES (OLD.id);
END;
