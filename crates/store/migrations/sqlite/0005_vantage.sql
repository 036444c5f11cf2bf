-- Vantage points: a host is observed per vantage (where the scan ran from: `local` is this
-- server), so the same address seen from `lan` and from `internet` has two rows, each with its
-- own spans. Scans record their vantage. `probed` is the port spec of every port some complete
-- scan from this vantage probed while the host was up: a port outside it was never looked at,
-- so finding it open is a first observation, not a port that opened. NULL (every host of an
-- older version) means unknown: every port counts as probed, as before.
--
-- SQLite cannot change a column's UNIQUE constraint in place, so hosts is rebuilt. Migrations
-- run inside one transaction with foreign keys on; the checks are deferred to the commit, by
-- which time every host row is back under its old id.
PRAGMA defer_foreign_keys = ON;

CREATE TEMP TABLE hosts_before_vantage AS SELECT * FROM hosts;

DROP TABLE hosts;

CREATE TABLE hosts (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    addr          TEXT    NOT NULL,
    hostname      TEXT,
    first_seen_at INTEGER,
    last_seen_at  INTEGER,
    last_scan_id  INTEGER,
    vantage       TEXT    NOT NULL DEFAULT 'local',
    probed        TEXT,
    UNIQUE (vantage, addr)
);

INSERT INTO hosts (id, addr, hostname, first_seen_at, last_seen_at, last_scan_id)
    SELECT id, addr, hostname, first_seen_at, last_seen_at, last_scan_id FROM hosts_before_vantage;

DROP TABLE hosts_before_vantage;

CREATE INDEX hosts_by_addr ON hosts (addr);

ALTER TABLE scans ADD COLUMN vantage TEXT NOT NULL DEFAULT 'local';
