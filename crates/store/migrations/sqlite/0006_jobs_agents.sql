-- Scan jobs for agents and replicas. A job is queued, claimed under a lease (renewed while it
-- runs; `token` fences the claim, so a result from an attempt whose lease was taken over is
-- refused), done with its result, and applied once the observation is recorded. At most one
-- live job (queued, claimed or done) per group, vantage and shard: enqueueing it again finds it.
CREATE TABLE jobs (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    group_name       TEXT    NOT NULL,
    vantage          TEXT    NOT NULL,
    shard            TEXT    NOT NULL DEFAULT '',
    spec             TEXT    NOT NULL,
    status           TEXT    NOT NULL CHECK (status IN ('queued', 'claimed', 'done', 'applied', 'failed')),
    attempt          INTEGER NOT NULL DEFAULT 0,
    token            TEXT,
    claimed_by       TEXT,
    lease_expires_at INTEGER,
    created_at       INTEGER NOT NULL,
    finished_at      INTEGER,
    result           TEXT,
    error            TEXT
);
CREATE UNIQUE INDEX jobs_live ON jobs (group_name, vantage, shard)
    WHERE status IN ('queued', 'claimed', 'done');
CREATE INDEX jobs_by_vantage ON jobs (vantage, status, id);

-- Agents as last heard from (one row per agent name).
CREATE TABLE agents (
    name          TEXT    PRIMARY KEY,
    vantage       TEXT    NOT NULL,
    token_id      INTEGER NOT NULL,
    version       TEXT    NOT NULL,
    addr          TEXT    NOT NULL,
    first_seen_at INTEGER NOT NULL,
    last_seen_at  INTEGER NOT NULL,
    jobs_done     INTEGER NOT NULL DEFAULT 0,
    current_job   INTEGER
);

-- Agent tokens: role `agent`, bound to one vantage. SQLite cannot change a CHECK constraint in
-- place, so the table is rebuilt with its rows.
CREATE TABLE api_tokens_new (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT    NOT NULL,
    role         TEXT    NOT NULL CHECK (role IN ('viewer', 'admin', 'agent')),
    token_hash   TEXT    NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER,
    vantage      TEXT,
    CHECK ((role = 'agent') = (vantage IS NOT NULL))
);
INSERT INTO api_tokens_new (id, name, role, token_hash, created_at, last_used_at, revoked_at)
    SELECT id, name, role, token_hash, created_at, last_used_at, revoked_at FROM api_tokens;
DROP TABLE api_tokens;
ALTER TABLE api_tokens_new RENAME TO api_tokens;
