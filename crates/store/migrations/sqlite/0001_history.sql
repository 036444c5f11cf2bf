-- portwatch history, schema 1 (SQLite). Times are Unix milliseconds.

CREATE TABLE hosts (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    addr          TEXT    NOT NULL UNIQUE,
    hostname      TEXT,
    first_seen_at INTEGER,
    last_seen_at  INTEGER,
    last_scan_id  INTEGER
);

CREATE TABLE target_sets (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    digest     TEXT    NOT NULL UNIQUE,
    host_count INTEGER NOT NULL
);

CREATE TABLE target_set_hosts (
    set_id  INTEGER NOT NULL REFERENCES target_sets (id) ON DELETE CASCADE,
    host_id INTEGER NOT NULL REFERENCES hosts (id),
    PRIMARY KEY (set_id, host_id)
) WITHOUT ROWID;

CREATE INDEX target_set_hosts_by_host ON target_set_hosts (host_id, set_id);

CREATE TABLE scans (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    seq                 INTEGER UNIQUE,
    started_at          INTEGER NOT NULL,
    finished_at         INTEGER,
    status              TEXT    NOT NULL
        CHECK (status IN ('running', 'complete', 'incomplete', 'failed')),
    source              TEXT    NOT NULL,
    args                TEXT    NOT NULL,
    targets             TEXT    NOT NULL,
    ports               TEXT    NOT NULL,
    pid                 INTEGER,
    hostname            TEXT,
    heartbeat_at        INTEGER,
    target_set_id       INTEGER REFERENCES target_sets (id),
    hosts_up            INTEGER,
    hosts_down          INTEGER,
    open_ports          INTEGER,
    open_filtered_ports INTEGER,
    error               TEXT
);

CREATE INDEX scans_running ON scans (id) WHERE status = 'running';
CREATE INDEX scans_by_set ON scans (target_set_id, seq);
CREATE INDEX scans_by_finish ON scans (finished_at);

CREATE TABLE spans (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    host_id      INTEGER NOT NULL REFERENCES hosts (id),
    port         INTEGER NOT NULL CHECK (port BETWEEN 0 AND 65535),
    proto        TEXT    NOT NULL CHECK (proto IN ('tcp', 'udp')),
    state        TEXT    NOT NULL CHECK (state IN ('open', 'open|filtered')),
    reason       TEXT    NOT NULL,
    service      TEXT,
    details      TEXT    NOT NULL,
    details_hash TEXT    NOT NULL,
    from_scan    INTEGER NOT NULL REFERENCES scans (id),
    to_scan      INTEGER REFERENCES scans (id)
);

-- At most one current span per port; also the index every scan's diff reads.
CREATE UNIQUE INDEX spans_current ON spans (host_id, proto, port) WHERE to_scan IS NULL;
CREATE INDEX spans_history ON spans (host_id, proto, port, from_scan);
CREATE INDEX spans_by_from ON spans (from_scan);
CREATE INDEX spans_by_to ON spans (to_scan) WHERE to_scan IS NOT NULL;

CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at      INTEGER NOT NULL,
    idempotency_key TEXT    NOT NULL UNIQUE,
    channel         TEXT    NOT NULL,
    payload         TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    delivered_at    INTEGER,
    last_error      TEXT
);

CREATE INDEX outbox_due ON outbox (next_attempt_at, id) WHERE delivered_at IS NULL;

CREATE TABLE alert_states (
    key        TEXT    PRIMARY KEY,
    status     TEXT    NOT NULL,
    since      INTEGER NOT NULL,
    data       TEXT    NOT NULL,
    updated_at INTEGER NOT NULL
);
