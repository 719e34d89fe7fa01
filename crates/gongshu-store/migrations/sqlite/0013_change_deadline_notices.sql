-- An attribute change waiting for the authority is reminded and escalated like an
-- application: each column holds the deadline its notice was sent for, so a notice goes
-- once per deadline even with several nodes sending.
ALTER TABLE attribute_changes ADD COLUMN reminded_for TEXT;
ALTER TABLE attribute_changes ADD COLUMN escalated_for TEXT;
