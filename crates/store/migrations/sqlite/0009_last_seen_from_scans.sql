-- "Last seen" without a write per host and scan. A host that was up in the newest complete scan
-- covering it (its target set lists the host) was last seen when that scan finished, so an
-- unchanged scan writes its scan row and nothing per host. `down_at_scan` is the scan that
-- found the host down after it had been up (NULL: up in the newest covering scan); it and
-- `last_seen_at`/`last_scan_id` are written only when the host goes down or comes back, and the
-- stored pair then says when it was last seen up.
ALTER TABLE hosts ADD COLUMN down_at_scan INTEGER;

-- Before this version every scan that found a host up wrote its `last_scan_id`, so a host whose
-- newest covering scan is another one was down in that scan.
UPDATE hosts SET down_at_scan = (
    SELECT ls.id FROM scans ls WHERE ls.seq = (
        SELECT MAX((SELECT MAX(s.seq) FROM scans s WHERE s.target_set_id = m.set_id))
        FROM target_set_hosts m WHERE m.host_id = hosts.id));

UPDATE hosts SET down_at_scan = NULL WHERE down_at_scan = last_scan_id;
