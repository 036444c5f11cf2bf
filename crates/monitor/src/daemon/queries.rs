//! What the dashboard, the API and `/metrics` ask of the alert book, answered by the monitor
//! that owns it, so no front end decodes stored alert states or picks a source itself.

use super::{Daemon, stored_book};
use crate::alerts::AlertBook;
use portwatch_store::{Store, StoreError};

/// The alert book now: the running monitor's when one runs in this process ([`Daemon::book`]),
/// else the copy the store keeps ([`stored_book`]: resolved and unreadable states left out).
pub async fn current_book(daemon: Option<&Daemon>, store: &Store) -> Result<AlertBook, StoreError> {
    match daemon {
        Some(d) => Ok(d.book().await),
        None => stored_book(store).await,
    }
}
