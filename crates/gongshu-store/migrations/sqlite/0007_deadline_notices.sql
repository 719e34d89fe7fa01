-- Issue 4: reminders before a deadline and escalation after it, each sent once per
-- deadline (a new step with a new deadline clears them).
ALTER TABLE applications ADD COLUMN reminded_for TEXT;
ALTER TABLE applications ADD COLUMN escalated_for TEXT;
