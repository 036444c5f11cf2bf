//! The thin layer over the two dialects: one statement type, one row type, one transaction type.
//!
//! Every statement the store runs is written once, with `$N` placeholders, which both SQLite
//! and PostgreSQL accept. Values are bound by type (integer or text, either possibly NULL), so
//! PostgreSQL gets a typed NULL, and every integer column is 64-bit in both schemas.

use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{AssertSqlSafe, Postgres, Row, Sqlite};

/// Which database engine a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Embedded SQLite file.
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

/// One bound value.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    /// A 64-bit integer or NULL.
    Int(Option<i64>),
    /// Text or NULL.
    Text(Option<String>),
}

impl From<i64> for Arg {
    fn from(v: i64) -> Self {
        Arg::Int(Some(v))
    }
}
impl From<Option<i64>> for Arg {
    fn from(v: Option<i64>) -> Self {
        Arg::Int(v)
    }
}
impl From<String> for Arg {
    fn from(v: String) -> Self {
        Arg::Text(Some(v))
    }
}
impl From<&str> for Arg {
    fn from(v: &str) -> Self {
        Arg::Text(Some(v.to_string()))
    }
}
impl From<Option<String>> for Arg {
    fn from(v: Option<String>) -> Self {
        Arg::Text(v)
    }
}
impl From<Option<&str>> for Arg {
    fn from(v: Option<&str>) -> Self {
        Arg::Text(v.map(str::to_string))
    }
}

/// A statement with its arguments.
#[derive(Debug, Clone)]
pub(crate) struct Sql {
    text: String,
    args: Vec<Arg>,
    persistent: bool,
}

impl Sql {
    /// A statement whose text is fixed (prepared once per connection and cached).
    pub(crate) fn new(text: impl Into<String>) -> Self {
        Sql {
            text: text.into(),
            args: Vec::new(),
            persistent: true,
        }
    }

    /// A statement whose text varies with its input (not cached, so the cache keeps the fixed ones).
    pub(crate) fn dynamic(text: impl Into<String>) -> Self {
        Sql {
            persistent: false,
            ..Sql::new(text)
        }
    }

    /// Adds the next argument.
    pub(crate) fn bind(mut self, arg: impl Into<Arg>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// How many arguments are bound so far.
    pub(crate) fn len(&self) -> usize {
        self.args.len()
    }

    /// Appends to the statement's text (a condition whose placeholders follow the bound ones).
    pub(crate) fn append_text(&mut self, text: &str) {
        self.text.push_str(text);
    }

    /// Adds the next argument in place.
    pub(crate) fn push(&mut self, arg: impl Into<Arg>) {
        self.args.push(arg.into());
    }

    fn sqlite(&self) -> sqlx::query::Query<'_, Sqlite, sqlx::sqlite::SqliteArguments> {
        // SQLite looks named parameters up in a list, so a statement with thousands of `$N`
        // costs quadratic time to prepare and bind; anonymous `?` costs nothing.
        let text = if self.persistent {
            self.text.clone()
        } else {
            anonymous_placeholders(&self.text).unwrap_or_else(|| self.text.clone())
        };
        let mut q = sqlx::query(AssertSqlSafe(text)).persistent(self.persistent);
        for a in &self.args {
            q = match a {
                Arg::Int(v) => q.bind(*v),
                Arg::Text(v) => q.bind(v.clone()),
            };
        }
        q
    }

    fn postgres(&self) -> sqlx::query::Query<'_, Postgres, sqlx::postgres::PgArguments> {
        let mut q = sqlx::query(AssertSqlSafe(self.text.clone())).persistent(self.persistent);
        for a in &self.args {
            q = match a {
                Arg::Int(v) => q.bind(*v),
                Arg::Text(v) => q.bind(v.clone()),
            };
        }
        q
    }
}

/// The statement with `$1, $2, …` replaced by `?`, if each appears once and in that order.
fn anonymous_placeholders(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut expected = 1usize;
    let mut chars = text.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        let mut n = 0usize;
        let mut digits = 0;
        while let Some((_, d)) = chars.peek().copied().filter(|(_, d)| d.is_ascii_digit()) {
            n = n * 10 + (d as usize - '0' as usize);
            digits += 1;
            chars.next();
        }
        if digits == 0 || n != expected {
            return None;
        }
        expected += 1;
        out.push('?');
    }
    Some(out)
}

/// Rows per multi-row statement: well under both engines' limits on bound parameters.
pub(crate) const MAX_ROWS: usize = 500;

/// Bytes of text and arguments per statement on PostgreSQL. sqlx 0.9.0 leaves Nagle's
/// algorithm on, and a message larger than the socket's first send buffer goes out in two
/// writes, the second held until the server's delayed ACK (40 ms). Small statements avoid it.
const PG_STATEMENT_BYTES: usize = 12_000;

/// Cuts `rows` into the batches of one multi-row statement each: at most [`MAX_ROWS`] rows,
/// and on PostgreSQL at most [`PG_STATEMENT_BYTES`] by `row_bytes` (an estimate that counts
/// each value, its length word and its placeholder).
pub(crate) fn batches<T>(
    dialect: Dialect,
    rows: &[T],
    row_bytes: impl Fn(&T) -> usize,
) -> Vec<&[T]> {
    let budget = match dialect {
        Dialect::Sqlite => usize::MAX,
        Dialect::Postgres => PG_STATEMENT_BYTES,
    };
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, row) in rows.iter().enumerate() {
        let b = row_bytes(row);
        if i > start && (i - start >= MAX_ROWS || bytes + b > budget) {
            out.push(&rows[start..i]);
            start = i;
            bytes = 0;
        }
        bytes += b;
    }
    if start < rows.len() {
        out.push(&rows[start..]);
    }
    out
}

/// `$first, $first+1, …` for `count` placeholders.
pub(crate) fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// `($1,$2),($3,$4),…` for `rows` rows of `cols` placeholders.
pub(crate) fn value_rows(rows: usize, cols: usize) -> String {
    (0..rows)
        .map(|r| format!("({})", placeholders(r * cols + 1, cols)))
        .collect::<Vec<_>>()
        .join(",")
}

/// A row from either dialect, read by column name.
pub(crate) enum DbRow {
    /// From SQLite.
    Sqlite(SqliteRow),
    /// From PostgreSQL.
    Pg(PgRow),
}

impl DbRow {
    /// A non-NULL integer column.
    pub(crate) fn int(&self, col: &str) -> Result<i64, sqlx::Error> {
        match self {
            DbRow::Sqlite(r) => r.try_get(col),
            DbRow::Pg(r) => r.try_get(col),
        }
    }

    /// A nullable integer column.
    pub(crate) fn opt_int(&self, col: &str) -> Result<Option<i64>, sqlx::Error> {
        match self {
            DbRow::Sqlite(r) => r.try_get(col),
            DbRow::Pg(r) => r.try_get(col),
        }
    }

    /// A non-NULL text column.
    pub(crate) fn text(&self, col: &str) -> Result<String, sqlx::Error> {
        match self {
            DbRow::Sqlite(r) => r.try_get(col),
            DbRow::Pg(r) => r.try_get(col),
        }
    }

    /// A nullable text column.
    pub(crate) fn opt_text(&self, col: &str) -> Result<Option<String>, sqlx::Error> {
        match self {
            DbRow::Sqlite(r) => r.try_get(col),
            DbRow::Pg(r) => r.try_get(col),
        }
    }
}

/// An open transaction on either dialect.
pub(crate) enum Tx {
    /// SQLite.
    Sqlite(sqlx::Transaction<'static, Sqlite>),
    /// PostgreSQL.
    Pg(sqlx::Transaction<'static, Postgres>),
}

impl Tx {
    /// Runs a statement, returning the number of rows it changed.
    pub(crate) async fn execute(&mut self, sql: &Sql) -> Result<u64, sqlx::Error> {
        Ok(match self {
            Tx::Sqlite(tx) => sql.sqlite().execute(&mut **tx).await?.rows_affected(),
            Tx::Pg(tx) => sql.postgres().execute(&mut **tx).await?.rows_affected(),
        })
    }

    /// Runs a query, returning all rows.
    pub(crate) async fn fetch_all(&mut self, sql: &Sql) -> Result<Vec<DbRow>, sqlx::Error> {
        Ok(match self {
            Tx::Sqlite(tx) => sql
                .sqlite()
                .fetch_all(&mut **tx)
                .await?
                .into_iter()
                .map(DbRow::Sqlite)
                .collect(),
            Tx::Pg(tx) => sql
                .postgres()
                .fetch_all(&mut **tx)
                .await?
                .into_iter()
                .map(DbRow::Pg)
                .collect(),
        })
    }

    /// Runs a query, returning its first row if any.
    pub(crate) async fn fetch_optional(&mut self, sql: &Sql) -> Result<Option<DbRow>, sqlx::Error> {
        Ok(match self {
            Tx::Sqlite(tx) => sql
                .sqlite()
                .fetch_optional(&mut **tx)
                .await?
                .map(DbRow::Sqlite),
            Tx::Pg(tx) => sql
                .postgres()
                .fetch_optional(&mut **tx)
                .await?
                .map(DbRow::Pg),
        })
    }

    /// Makes the transaction's writes durable.
    pub(crate) async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Tx::Sqlite(tx) => tx.commit().await,
            Tx::Pg(tx) => tx.commit().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_anonymous_only_in_order() {
        assert_eq!(
            anonymous_placeholders("UPDATE t SET a = $1 WHERE id IN ($2,$3)").as_deref(),
            Some("UPDATE t SET a = ? WHERE id IN (?,?)")
        );
        assert_eq!(anonymous_placeholders("VALUES ($1, $1)"), None);
        assert_eq!(anonymous_placeholders("VALUES ($2, $1)"), None);
        assert_eq!(value_rows(2, 2), "($1,$2),($3,$4)");
    }

    #[test]
    fn batches_respect_rows_and_bytes() {
        let rows: Vec<usize> = vec![10; 1200];
        let lens = |d| {
            batches(d, &rows, |r| *r)
                .iter()
                .map(|b| b.len())
                .collect::<Vec<_>>()
        };
        assert_eq!(lens(Dialect::Sqlite), vec![500, 500, 200]);
        assert_eq!(lens(Dialect::Postgres), vec![500, 500, 200]);
        let big: Vec<usize> = vec![5000; 5];
        assert_eq!(batches(Dialect::Postgres, &big, |r| *r).len(), 3);
        assert_eq!(batches(Dialect::Postgres, &[20_000usize], |r| *r).len(), 1);
    }
}
