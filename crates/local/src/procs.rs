//! Which process holds which socket: `/proc/PID/fd/*` links read `socket:[INODE]`.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::Path;

/// A process that holds a socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// Process id.
    pub pid: u32,
    /// `/proc/PID/comm`.
    pub process: Option<String>,
    /// `/proc/PID/cmdline`, arguments joined with spaces.
    pub cmdline: Option<String>,
}

/// The owners found for a set of inodes, and whether every process could be inspected.
#[derive(Debug, Clone, Default)]
pub struct Owners {
    /// Inode → owning process (the lowest pid when several hold the socket).
    pub by_inode: HashMap<u64, Owner>,
    /// False when some process's descriptors could not be read.
    pub complete: bool,
}

/// Finds the processes holding the sockets `wanted` under the proc file system at `proc`.
pub fn find_owners(proc: &Path, wanted: &HashSet<u64>) -> Owners {
    let mut owners = Owners {
        by_inode: HashMap::new(),
        complete: true,
    };
    if wanted.is_empty() {
        return owners;
    }
    let Ok(entries) = fs::read_dir(proc) else {
        owners.complete = false;
        return owners;
    };
    let mut pids: Vec<u32> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    let mut found: HashMap<u64, u32> = HashMap::new();
    for pid in pids {
        let fd_dir = proc.join(pid.to_string()).join("fd");
        let fds = match fs::read_dir(&fd_dir) {
            Ok(fds) => fds,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(_) => {
                owners.complete = false;
                continue;
            }
        };
        for fd in fds.flatten() {
            let Ok(target) = fs::read_link(fd.path()) else {
                continue;
            };
            if let Some(inode) = target.to_str().and_then(socket_inode)
                && wanted.contains(&inode)
            {
                found.entry(inode).or_insert(pid);
            }
        }
        if found.len() == wanted.len() {
            break;
        }
    }
    if found.len() == wanted.len() {
        // Every socket has its process: nothing was hidden by unreadable entries.
        owners.complete = true;
    }
    for (inode, pid) in found {
        let dir = proc.join(pid.to_string());
        owners.by_inode.insert(
            inode,
            Owner {
                pid,
                process: fs::read_to_string(dir.join("comm"))
                    .ok()
                    .map(|s| s.trim_end_matches('\n').to_string())
                    .filter(|s| !s.is_empty()),
                cmdline: fs::read(dir.join("cmdline"))
                    .ok()
                    .and_then(|raw| join_cmdline(&raw)),
            },
        );
    }
    owners
}

/// The inode of a descriptor link target `socket:[INODE]`.
pub fn socket_inode(target: &str) -> Option<u64> {
    target
        .strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// Joins NUL-separated arguments with spaces; `None` for kernel threads (empty).
fn join_cmdline(raw: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(raw);
    let joined = text
        .split('\0')
        .filter(|a| !a.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    (!joined.is_empty()).then_some(joined)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_socket_links_only() {
        assert_eq!(socket_inode("socket:[12345]"), Some(12345));
        assert_eq!(socket_inode("pipe:[12345]"), None);
        assert_eq!(socket_inode("socket:[x]"), None);
        assert_eq!(socket_inode("/dev/null"), None);
    }

    #[test]
    fn joins_arguments() {
        assert_eq!(
            join_cmdline(b"python3\0-m\0http.server\0").as_deref(),
            Some("python3 -m http.server")
        );
        assert_eq!(join_cmdline(b""), None);
    }

    #[test]
    fn finds_its_own_socket() {
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        drop(sock.local_addr());
        // Our own descriptors are always readable, root or not.
        let me = std::process::id();
        let mut wanted = HashSet::new();
        for fd in fs::read_dir("/proc/self/fd").unwrap().flatten() {
            if let Some(inode) = fs::read_link(fd.path())
                .ok()
                .and_then(|t| t.to_str().and_then(socket_inode))
            {
                wanted.insert(inode);
            }
        }
        assert!(!wanted.is_empty());
        let owners = find_owners(Path::new("/proc"), &wanted);
        let any = owners.by_inode.values().next().unwrap();
        assert_eq!(any.pid, me);
        drop(sock);
    }
}
