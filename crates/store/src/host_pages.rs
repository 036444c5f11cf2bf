//! Reading the host list a page at a time: filtered, by address then vantage, paged in SQL.

use crate::db::{Dialect, Sql};
use crate::error::Result;
use crate::model::HostRow;
use crate::store::Store;
use std::cmp::Ordering;
use std::net::IpAddr;

/// The SQLite collation that orders address texts as addresses (IPv4 before IPv6, then by
/// value), as `IpAddr` orders them; a text that is not an address sorts after, as text.
pub(crate) const ADDR_COLLATION: &str = "portwatch_addr";

/// [`ADDR_COLLATION`]'s comparison.
pub(crate) fn compare_addrs(a: &str, b: &str) -> Ordering {
    match (a.parse::<IpAddr>(), b.parse::<IpAddr>()) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        (Ok(_), Err(_)) => Ordering::Less,
        (Err(_), Ok(_)) => Ordering::Greater,
        (Err(_), Err(_)) => a.cmp(b),
    }
}

/// Which hosts [`Store::host_page`] returns; every field given must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostFilter {
    /// Part of the address or of the hostname, ASCII case-insensitive.
    pub q: Option<String>,
    /// Only hosts with (`true`) or without (`false`) open ports now.
    pub has_open: Option<bool>,
    /// Only rows of this vantage.
    pub vantage: Option<String>,
}

/// One page of the host list.
#[derive(Debug, Clone, PartialEq)]
pub struct HostPage {
    /// The rows of the page, by address then vantage (as [`Store::hosts`] orders them).
    pub hosts: Vec<HostRow>,
    /// How many rows match the filter in all.
    pub total: u64,
}

impl HostFilter {
    /// ` WHERE …` over the columns of `x` (addr, hostname, vantage, open_ports).
    fn condition(&self, dialect: Dialect, sql: &mut Sql) {
        let mut parts = Vec::new();
        if let Some(q) = &self.q {
            sql.push(q.to_ascii_lowercase());
            let n = sql.len();
            // Only ASCII letters are lowered, as the caller's text is: SQLite's lower() does
            // that, PostgreSQL's does under the C collation.
            parts.push(match dialect {
                Dialect::Sqlite => {
                    format!("(instr(x.addr, ${n}) > 0 OR instr(lower(x.hostname), ${n}) > 0)")
                }
                Dialect::Postgres => format!(
                    "(strpos(x.addr, ${n}) > 0 OR strpos(lower(x.hostname COLLATE \"C\"), ${n}) > 0)"
                ),
            });
        }
        match self.has_open {
            Some(true) => parts.push("x.open_ports > 0".to_string()),
            Some(false) => parts.push("x.open_ports = 0".to_string()),
            None => {}
        }
        if let Some(v) = &self.vantage {
            sql.push(v.as_str());
            parts.push(format!("x.vantage = ${}", sql.len()));
        }
        if !parts.is_empty() {
            sql.append_text(&format!(" WHERE {}", parts.join(" AND ")));
        }
    }
}

impl Store {
    /// The host rows matching `filter`, by address then vantage: at most `limit` of them after
    /// skipping `offset`, with how many match in all, read in one transaction.
    pub async fn host_page(
        &self,
        filter: &HostFilter,
        limit: u32,
        offset: u32,
    ) -> Result<HostPage> {
        let op = "list a page of hosts";
        let dialect = self.dialect();
        let mut count = Sql::new(
            "SELECT COUNT(*) AS n FROM (SELECT h.addr, h.vantage, h.hostname, \
             (SELECT COUNT(*) FROM spans sp WHERE sp.host_id = h.id AND sp.to_scan IS NULL) AS open_ports \
             FROM hosts h) x",
        );
        filter.condition(dialect, &mut count);
        let mut page = Sql::new(format!(
            "SELECT * FROM ({}) x",
            crate::queries::host_select()
        ));
        filter.condition(dialect, &mut page);
        let order = match dialect {
            Dialect::Sqlite => format!("x.addr COLLATE {ADDR_COLLATION}, x.vantage"),
            Dialect::Postgres => "CAST(x.addr AS inet), x.vantage COLLATE \"C\"".to_string(),
        };
        page.append_text(&format!(" ORDER BY {order}"));
        let (hosts, total) = self
            .counted_page(op, &count, page, limit, offset, |r| self.host_row(r, op))
            .await?;
        Ok(HostPage { hosts, total })
    }
}

#[cfg(test)]
mod tests {
    use super::compare_addrs;
    use std::cmp::Ordering;

    #[test]
    fn addresses_compare_as_addresses() {
        assert_eq!(compare_addrs("10.0.0.2", "10.0.0.10"), Ordering::Less);
        assert_eq!(compare_addrs("255.0.0.1", "::1"), Ordering::Less);
        assert_eq!(compare_addrs("fd00::2", "fd00::10"), Ordering::Less);
        assert_eq!(compare_addrs("10.0.0.1", "10.0.0.1"), Ordering::Equal);
        assert_eq!(compare_addrs("::1", "not an address"), Ordering::Less);
        assert_eq!(compare_addrs("b", "a"), Ordering::Greater);
    }
}
