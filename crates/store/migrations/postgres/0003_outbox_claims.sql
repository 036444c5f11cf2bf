-- Outbox leases: a process claims a message before sending it, so several processes on one
-- database do not send the same message while its lease runs. claim_token counts the claims of a
-- message; the delivered/failed records name the token they were given, so a record from a
-- claim that has expired (and maybe been claimed again) is refused.
ALTER TABLE outbox ADD COLUMN claimed_by       TEXT;
ALTER TABLE outbox ADD COLUMN claim_expires_at BIGINT;
ALTER TABLE outbox ADD COLUMN claim_token      BIGINT NOT NULL DEFAULT 0;
