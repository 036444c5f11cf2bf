-- "Scan now" requests are kept after the leader takes them, with where they are, so that the
-- replica a user asked can say how the scan went and cancel it: pending (not taken yet),
-- running (a scan of the group is under way for it), cancelling (asked to stop while running),
-- then one of done, cancelled, interrupted (the leader stopped or changed before it ended).
ALTER TABLE scan_requests ADD COLUMN state TEXT NOT NULL DEFAULT 'pending';
ALTER TABLE scan_requests ADD COLUMN updated_at BIGINT;
CREATE INDEX scan_requests_state ON scan_requests (state);
