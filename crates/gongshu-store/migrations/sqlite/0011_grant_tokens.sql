-- Issue 4: an API token may be scoped to one grant: it reads only what that grant allows
-- and stops working when the grant ends.
ALTER TABLE credentials ADD COLUMN grant_id INTEGER REFERENCES grants(id);
