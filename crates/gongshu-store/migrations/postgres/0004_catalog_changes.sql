-- Matches SQLite's 0034_catalog_changes.sql. Sequence numbers are taken at insert and
-- transactions commit in any order, so a reader looks back over the last numbers it
-- passed (see `App::spawn_search_follower`).
CREATE TABLE catalog_changes (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dataset_id BIGINT NOT NULL
);
CREATE FUNCTION catalog_changes_log() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO catalog_changes (dataset_id) VALUES (OLD.id);
    ELSE
        INSERT INTO catalog_changes (dataset_id) VALUES (NEW.id);
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER catalog_changes_log AFTER INSERT OR UPDATE OR DELETE ON published_datasets
    FOR EACH ROW EXECUTE FUNCTION catalog_changes_log();
