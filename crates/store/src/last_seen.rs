//! "Last seen" derived from scan rows, so that a scan that changes nothing writes no host row.
//!
//! A host's row says when it was last seen only as of its last transition (first found, found
//! down after being up, back up). While `down_at_scan` is NULL the host was up in the newest
//! complete scan whose target set lists it, and that scan's finish is when it was last seen.

/// The sequence number of the newest complete scan whose target set lists the host whose id is
/// `host_id` (an SQL expression). Each set's newest scan is one step down the
/// `scans_by_set` index; a host belongs to few sets.
pub(crate) fn newest_covering_seq(host_id: &str) -> String {
    format!(
        "(SELECT MAX((SELECT MAX(s.seq) FROM scans s WHERE s.target_set_id = m.set_id)) \
         FROM target_set_hosts m WHERE m.host_id = {host_id})"
    )
}

/// Columns `newest_id` and `newest_at`: the newest covering scan of host `h` (see
/// [`newest_covering_seq`]), or NULL when no remaining scan covers it.
pub(crate) fn newest_covering_columns() -> String {
    let seq = newest_covering_seq("h.id");
    format!(
        "(SELECT ls.id FROM scans ls WHERE ls.seq = {seq}) AS newest_id, \
         (SELECT ls.finished_at FROM scans ls WHERE ls.seq = {seq}) AS newest_at"
    )
}

/// Statements that set every host's `down_at_scan` from its stored `last_scan_id` (the scan
/// that last found it up): a host whose newest covering scan is another one was down in that
/// scan. Run after an import; migration 0009 applies the same rule to an older database.
pub(crate) fn mark_down_from_stored() -> [String; 2] {
    let seq = newest_covering_seq("hosts.id");
    [
        format!(
            "UPDATE hosts SET down_at_scan = (SELECT ls.id FROM scans ls WHERE ls.seq = {seq})"
        ),
        "UPDATE hosts SET down_at_scan = NULL WHERE down_at_scan = last_scan_id".to_string(),
    ]
}

/// When a host was last seen up and by which scan, from its row and its newest covering scan:
/// the newest covering scan while the host is not marked down, else what the row stored.
pub(crate) fn last_seen(
    down_at_scan: Option<i64>,
    stored: (Option<i64>, Option<i64>),
    newest: (Option<i64>, Option<i64>),
) -> (Option<i64>, Option<i64>) {
    match (down_at_scan, newest) {
        (None, (Some(at), Some(id))) => (Some(at), Some(id)),
        _ => stored,
    }
}

#[cfg(test)]
mod tests {
    use super::last_seen;

    #[test]
    fn an_up_host_was_last_seen_by_its_newest_covering_scan() {
        assert_eq!(
            last_seen(None, (Some(1_000), Some(1)), (Some(9_000), Some(7))),
            (Some(9_000), Some(7))
        );
    }

    #[test]
    fn a_host_marked_down_keeps_what_its_row_stored() {
        assert_eq!(
            last_seen(Some(7), (Some(1_000), Some(1)), (Some(9_000), Some(7))),
            (Some(1_000), Some(1))
        );
    }

    #[test]
    fn a_host_no_remaining_scan_covers_keeps_what_its_row_stored() {
        assert_eq!(
            last_seen(None, (Some(1_000), Some(1)), (None, None)),
            (Some(1_000), Some(1))
        );
    }
}
