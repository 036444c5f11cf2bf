-- "Scan now" asked of a replica that does not schedule: the leader takes the requests (and
-- deletes them) and runs the groups they name.
CREATE TABLE scan_requests (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    group_name   TEXT    NOT NULL,
    requested_at INTEGER NOT NULL
);
