//! A throwaway Samba (smbd and nmbd) for the tests that run one in a network namespace: its
//! state directories under a directory of the test's own, and the [global] section of its
//! smb.conf that puts every piece of state there. A test file includes it next to `common`:
//! `#[path = "common/samba.rs"] mod samba;`.
#![allow(dead_code)]

use std::path::Path;

/// The directories under a Samba's state directory: those [`global`] names, and `run-samba`
/// and `log`, which are bind-mounted over the compiled-in /run/samba and /var/log/samba.
const DIRS: [&str; 9] = [
    "private",
    "lock",
    "state",
    "cache",
    "pid",
    "ncalrpc",
    "usershares",
    "run-samba",
    "log",
];

/// Makes the state directories under `dir` and returns the [global] section of a
/// standalone server named `name` in `workgroup`, on 445 and 139 of interface `iface` only,
/// NetBIOS on, without printers, every piece of its state under `dir`. Lines to add to the
/// section (one `key = value` each) go after it.
pub fn global(dir: &Path, name: &str, workgroup: &str, iface: &str) -> String {
    for sub in DIRS {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let d = dir.display();
    format!(
        "[global]\n   netbios name = {name}\n   workgroup = {workgroup}\n   server role = standalone server\n   interfaces = {iface}\n   bind interfaces only = yes\n   smb ports = 445 139\n   disable netbios = no\n   private dir = {d}/private\n   lock directory = {d}/lock\n   state directory = {d}/state\n   cache directory = {d}/cache\n   pid directory = {d}/pid\n   ncalrpc dir = {d}/ncalrpc\n   usershare path = {d}/usershares\n   passdb backend = tdbsam:{d}/private/passdb.tdb\n   log file = {d}/log/log.%m\n   load printers = no\n   printing = bsd\n   printcap name = /dev/null\n   disable spoolss = yes\n"
    )
}
