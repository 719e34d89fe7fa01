-- Issue 7 (performance of the audited row API): a counter that every change to what the
-- access gate reads moves forward, in the same transaction as the change. A node keeps
-- the gate's catalog reads (resource, entry, published copy, provider, grade caps, the
-- open version) in memory and uses them while the counter stands still: one read of the
-- counter instead of half a dozen queries per data request. Being in the database, it
-- holds for several nodes on one database as much as for one.
CREATE TABLE catalog_generation (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n INTEGER NOT NULL
);
INSERT INTO catalog_generation (id, n) VALUES (1, 0);
CREATE TRIGGER organizations_insert_generation AFTER INSERT ON organizations
BEGIN UPDATE catalog_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER organizations_update_generation AFTER UPDATE ON organizations
BEGIN UPDATE catalog_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER organizations_delete_generation AFTER DELETE ON organizations
BEGIN UPDATE catalog_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER datasets_insert_generation AFTER INSERT ON datasets
BEGIN UPDATE catalog_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER datasets_update_generation AFTER UPDATE ON datasets
BEGIN UPDATE catalog_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER datasets_delete_generation AFTER DELETE ON datasets
BEGIN UPDATE catalog_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER published_datasets_insert_generation AFTER INSERT ON published_datasets
BEGIN UPDATE catalog_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER published_datasets_update_generation AFTER UPDATE ON published_datasets
BEGIN UPDATE catalog_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER published_datasets_delete_generation AFTER DELETE ON published_datasets
BEGIN UPDATE catalog_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER resources_insert_generation AFTER INSERT ON resources
BEGIN UPDATE catalog_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER resources_update_generation AFTER UPDATE ON resources
BEGIN UPDATE catalog_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER resources_delete_generation AFTER DELETE ON resources
BEGIN UPDATE catalog_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER resource_versions_insert_generation AFTER INSERT ON resource_versions
BEGIN UPDATE catalog_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER resource_versions_update_generation AFTER UPDATE ON resource_versions
BEGIN UPDATE catalog_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER resource_versions_delete_generation AFTER DELETE ON resource_versions
BEGIN UPDATE catalog_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER column_classes_insert_generation AFTER INSERT ON column_classes
BEGIN UPDATE catalog_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER column_classes_update_generation AFTER UPDATE ON column_classes
BEGIN UPDATE catalog_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER column_classes_delete_generation AFTER DELETE ON column_classes
BEGIN UPDATE catalog_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER resource_rules_insert_generation AFTER INSERT ON resource_rules
BEGIN UPDATE catalog_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER resource_rules_update_generation AFTER UPDATE ON resource_rules
BEGIN UPDATE catalog_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER resource_rules_delete_generation AFTER DELETE ON resource_rules
BEGIN UPDATE catalog_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER open_versions_insert_generation AFTER INSERT ON open_versions
BEGIN UPDATE catalog_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER open_versions_update_generation AFTER UPDATE ON open_versions
BEGIN UPDATE catalog_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER open_versions_delete_generation AFTER DELETE ON open_versions
BEGIN UPDATE catalog_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER grade_caps_insert_generation AFTER INSERT ON grade_caps
BEGIN UPDATE catalog_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER grade_caps_update_generation AFTER UPDATE ON grade_caps
BEGIN UPDATE catalog_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER grade_caps_delete_generation AFTER DELETE ON grade_caps
BEGIN UPDATE catalog_generation SET n = n + 1 WHERE id = 1; END;
