-- Vantage points: a host is observed per vantage (where the scan ran from: `local` is this
-- server), so the same address seen from `lan` and from `internet` has two rows, each with its
-- own spans. Scans record their vantage. `probed` is the port spec of every port some complete
-- scan from this vantage probed while the host was up: a port outside it was never looked at,
-- so finding it open is a first observation, not a port that opened. NULL (every host of an
-- older version) means unknown: every port counts as probed, as before.
ALTER TABLE hosts ADD COLUMN vantage TEXT NOT NULL DEFAULT 'local';
ALTER TABLE hosts ADD COLUMN probed TEXT;
ALTER TABLE hosts DROP CONSTRAINT hosts_addr_key;
ALTER TABLE hosts ADD CONSTRAINT hosts_vantage_addr_key UNIQUE (vantage, addr);
CREATE INDEX hosts_by_addr ON hosts (addr);

ALTER TABLE scans ADD COLUMN vantage TEXT NOT NULL DEFAULT 'local';
