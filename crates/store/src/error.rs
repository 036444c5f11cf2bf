//! The one error type of the store: each variant names the database, the operation and what to do.

use crate::db::Dialect;
use std::io;
use std::path::PathBuf;

/// Result of every store operation.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// What went wrong in the store, worded for the person who has to fix it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database URL could not be understood.
    #[error(
        "database URL '{url}' is not valid: {reason} (use sqlite://PATH or postgres://USER@HOST/DBNAME)"
    )]
    BadUrl {
        /// The URL as given (password removed).
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Neither XDG_DATA_HOME nor HOME says where the default database lives.
    #[error(
        "cannot place the default database: neither XDG_DATA_HOME nor HOME is set; pass a database URL"
    )]
    NoDefaultLocation,
    /// The directory of a SQLite database could not be created.
    #[error(
        "cannot create directory {path} for database {db}: {source}; create it yourself or choose another database"
    )]
    CreateDir {
        /// The database.
        db: String,
        /// The directory.
        path: PathBuf,
        /// The operating system's answer.
        source: io::Error,
    },
    /// The database file could not be opened at all.
    #[error(
        "cannot open database {db}: {reason}; check that the path is right and that this user may read and write the file and its directory"
    )]
    CannotOpen {
        /// The database.
        db: String,
        /// What the database engine said.
        reason: String,
    },
    /// The database can be read but not written.
    #[error(
        "database {db} is read-only ({reason}); make the file and its directory writable, or choose another database — nothing was changed"
    )]
    ReadOnly {
        /// The database.
        db: String,
        /// What the database engine said.
        reason: String,
    },
    /// The filesystem (or the database server's disk) is full.
    #[error(
        "database {db}: the disk is full while trying to {op}; free space where the database lives — this operation was rolled back and what was stored before is intact"
    )]
    DiskFull {
        /// The database.
        db: String,
        /// The operation that needed space.
        op: &'static str,
    },
    /// Another writer kept the database locked for too long.
    #[error(
        "database {db} stayed locked by another writer for {waited_s} s while trying to {op}; retry once the other portwatch process has finished"
    )]
    Busy {
        /// The database.
        db: String,
        /// The operation that waited.
        op: &'static str,
        /// How long it waited in total.
        waited_s: u64,
    },
    /// The database holds migrations this build does not know.
    #[error(
        "database {db} was written by a newer portwatch (schema {found}, this build knows up to {known}); upgrade portwatch or use another database — it was not modified"
    )]
    NewerSchema {
        /// The database.
        db: String,
        /// Highest schema version found in the database.
        found: i64,
        /// Highest schema version this build knows.
        known: i64,
    },
    /// The database server could not be reached or refused the login.
    #[error("cannot connect to database {db}: {reason}")]
    Connect {
        /// The database (password removed).
        db: String,
        /// What failed, with a hint.
        reason: String,
    },
    /// Bringing the schema up to date failed.
    #[error("cannot bring database {db} to schema {known}: {source}")]
    Migrate {
        /// The database.
        db: String,
        /// The schema version this build wants.
        known: i64,
        /// The migrator's error.
        source: sqlx::migrate::MigrateError,
    },
    /// A statement failed for a reason without a more specific variant.
    #[error("database {db}: cannot {op}: {source}")]
    Query {
        /// The database.
        db: String,
        /// The operation.
        op: &'static str,
        /// The driver's error.
        source: sqlx::Error,
    },
    /// A stored value is not what this build writes (hand-edited or damaged database).
    #[error("database {db}: cannot {op}: stored value is invalid: {reason}")]
    Corrupt {
        /// The database.
        db: String,
        /// The operation.
        op: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The caller passed something inconsistent (a bug in the caller, not in the data).
    #[error("{op}: {reason}")]
    Usage {
        /// The operation.
        op: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A write made under a lease (see `Store::lease_acquire`) after another holder took it:
    /// nothing of it was written.
    #[error(
        "database {db}: cannot {op}: the lease \"{lease}\" (token {token}) is no longer held by this process, another one took it over; nothing was written"
    )]
    Fenced {
        /// The database.
        db: String,
        /// The operation.
        op: &'static str,
        /// The lease name.
        lease: String,
        /// The token the write carried.
        token: i64,
    },
    /// An alert state was changed by another writer after this one read it (see
    /// [`crate::AlertStateRow::version`]): nothing of the write was written.
    #[error(
        "database {db}: cannot {op}: alert state \"{key}\" was changed by another writer since it was read (expected version {expected}); nothing was written, read it again and decide again"
    )]
    Conflict {
        /// The database.
        db: String,
        /// The operation.
        op: &'static str,
        /// The alert state's key.
        key: String,
        /// The version the writer had read (0: no row).
        expected: i64,
    },
    /// No scan has this id.
    #[error("database {db}: scan {id} does not exist")]
    ScanNotFound {
        /// The database.
        db: String,
        /// The scan id.
        id: i64,
    },
    /// The scan is already finished (or was given up as incomplete).
    #[error("scan {id} is {status}, not running, so it cannot {op}")]
    ScanNotRunning {
        /// The scan id.
        id: i64,
        /// Its status.
        status: String,
        /// The operation.
        op: &'static str,
    },
    /// The scan did not complete, so it describes nothing reliably.
    #[error("scan {id} is {status}: only complete scans tell what was open")]
    ScanNotComplete {
        /// The scan id.
        id: i64,
        /// Its status.
        status: String,
    },
    /// Import only goes into an empty database.
    #[error(
        "import into {db} refused: it already holds {what}; import only into a new, empty database"
    )]
    ImportNotEmpty {
        /// The database.
        db: String,
        /// What is already there.
        what: String,
    },
    /// A line of an import file is not valid.
    #[error("import, line {line}: {reason}; nothing was imported")]
    ImportLine {
        /// 1-based line number.
        line: u64,
        /// What is wrong.
        reason: String,
    },
    /// Reading or writing an export stream failed.
    #[error("cannot {op}: {source}")]
    Io {
        /// The operation.
        op: &'static str,
        /// The operating system's answer.
        source: io::Error,
    },
}

impl StoreError {
    /// Classifies a driver error from `op` on `db` into the variant that tells what to do.
    pub(crate) fn from_sqlx(dialect: Dialect, db: &str, op: &'static str, e: sqlx::Error) -> Self {
        let db = db.to_string();
        if let sqlx::Error::Database(dbe) = &e {
            let code = dbe
                .code()
                .map(std::borrow::Cow::into_owned)
                .unwrap_or_default();
            let reason = dbe.message().to_string();
            match dialect {
                Dialect::Sqlite => {
                    // Extended result codes: the primary code is the low byte.
                    let primary = code.parse::<i32>().unwrap_or(0) & 0xff;
                    match primary {
                        8 => return StoreError::ReadOnly { db, reason },
                        13 => return StoreError::DiskFull { db, op },
                        5 | 6 => {
                            return StoreError::Busy {
                                db,
                                op,
                                waited_s: 0,
                            };
                        }
                        14 => return StoreError::CannotOpen { db, reason },
                        26 => {
                            return StoreError::CannotOpen {
                                db,
                                reason: format!("{reason} (the file is not a SQLite database)"),
                            };
                        }
                        11 => return StoreError::Corrupt { db, op, reason },
                        _ => {}
                    }
                }
                Dialect::Postgres => match code.as_str() {
                    "53100" => return StoreError::DiskFull { db, op },
                    "25006" => return StoreError::ReadOnly { db, reason },
                    "28P01" | "28000" => {
                        return StoreError::Connect {
                            db,
                            reason: format!("{reason}; check the user and password in the URL"),
                        };
                    }
                    "3D000" => {
                        return StoreError::Connect {
                            db,
                            reason: format!("{reason}; create it first (createdb) or fix the URL"),
                        };
                    }
                    "57P03" | "53300" => {
                        return StoreError::Connect {
                            db,
                            reason: format!("{reason}; retry later"),
                        };
                    }
                    _ => {}
                },
            }
        }
        if let (Dialect::Postgres, sqlx::Error::Io(io)) = (dialect, &e) {
            return StoreError::Connect {
                db,
                reason: format!("{io}; check that the server runs and the host and port are right"),
            };
        }
        if let (Dialect::Sqlite, sqlx::Error::Io(io)) = (dialect, &e) {
            if io.raw_os_error() == Some(28) {
                return StoreError::DiskFull { db, op };
            }
            return StoreError::CannotOpen {
                db,
                reason: io.to_string(),
            };
        }
        StoreError::Query { db, op, source: e }
    }

    /// Whether waiting and retrying may help (another writer holds the lock).
    pub(crate) fn is_busy(&self) -> bool {
        matches!(self, StoreError::Busy { .. })
    }

    /// Whether another writer changed what this write was based on: read again and retry.
    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Conflict { .. })
    }
}
