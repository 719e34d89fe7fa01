-- Issue 4: a department's request for conditionally shared data (SD-EGOV §23) is an
-- application whose content says `"kind": "share"`; the department it is made for
-- holds the grant.
ALTER TABLE applications ADD COLUMN requester_org_id INTEGER REFERENCES organizations(id);
