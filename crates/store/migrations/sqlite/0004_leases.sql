-- Named leases: one holder at a time for work that must not run twice (the scheduler of
-- several replicas). token counts the changes of holder; writes made under a lease carry it
-- and are refused once another holder took the lease (fencing).
CREATE TABLE leases (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    token       INTEGER NOT NULL,
    acquired_at INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);
