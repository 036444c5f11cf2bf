-- A row version for each alert state, so that two writers of one alert (the leader's scan
-- and an acknowledgement on any replica) cannot overwrite each other unseen: a writer names
-- the version it read, the write is refused if the row has moved on since, and the writer
-- reads again and decides again. Rows of an older version start at 1; 0 means "no row".
ALTER TABLE alert_states ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
