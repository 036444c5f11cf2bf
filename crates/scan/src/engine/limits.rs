//! File-descriptor budget: raise the soft `nofile` limit and keep a reserve for the rest of
//! the process (output, resolver, database, web server).

/// Descriptors kept free for everything that is not a probe socket.
pub const FD_RESERVE: u64 = 128;

/// Raises the soft `nofile` limit as far as the hard limit allows and returns how many
/// probe sockets may be open at once.
pub fn probe_socket_budget() -> usize {
    let soft = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(1024);
    let budget = soft.saturating_sub(FD_RESERVE).max(16);
    usize::try_from(budget).unwrap_or(usize::MAX)
}
