-- Issue 4 (R11.4): notifications also go by e-mail and webhook, where the recipient set
-- them up. Each channel is marked when sent; a notification is claimed before sending so
-- that two nodes do not both send it. Notifications from before this migration are not
-- sent (delivery 'done').
CREATE TABLE notification_channels (
    user_id INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    email TEXT,
    webhook_url TEXT,
    -- HMAC-SHA256 key for the webhook signature, shown to the user once.
    webhook_secret TEXT,
    updated_at TEXT NOT NULL
);
ALTER TABLE notifications ADD COLUMN delivery TEXT NOT NULL DEFAULT 'done';
ALTER TABLE notifications ADD COLUMN claimed_until TEXT;
ALTER TABLE notifications ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE notifications ADD COLUMN email_sent_at TEXT;
ALTER TABLE notifications ADD COLUMN webhook_sent_at TEXT;
ALTER TABLE notifications ADD COLUMN last_error TEXT;
CREATE INDEX notifications_delivery ON notifications(delivery) WHERE delivery <> 'done';
