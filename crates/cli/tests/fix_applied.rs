//! `fix` plans applied for real: each test builds a host in its own network namespace
//! (`pwx-kb-*`, its own /24 of 10.215.0.0/16 and /64 of fd00:215::/32) with TCP listeners on
//! 22, 139, 445 and 8000 on both address families, loads rules that were there before, runs
//! the plan's close-stage commands inside the namespace exactly as printed (with `sudo` a
//! pass-through), and then scans from outside, over IPv4 and over IPv6: the port is filtered,
//! the other ports still open, an established connection to a session port still answers, the
//! rules that were there before are still there, and the plan's own verify command reports the
//! port filtered.
//!
//! The Samba plan for 139 runs against a throwaway smbd and nmbd: its smb.conf lines are
//! appended to the instance's [global] section and its commands run as printed, with
//! `systemctl` and `testparm` shims that act on that instance.
//!
//! iptables runs once as iptables-nft and once as iptables-legacy (a PATH shim picks the
//! binary), also with `--source` (a second client in its own namespace, on its own link to the
//! host, is blocked while the allowed source still gets in). 137/udp is closed on every
//! firewall (iptables-nft, iptables-legacy, nftables, ufw, firewalld) over a rule that allowed
//! it before: a UDP server that answers is open before, open|filtered or filtered after, and
//! another UDP port says the same before and after; those tests and the firewalld ones
//! also check the root namespace's nftables and iptables-legacy rules are unchanged. ufw runs in a private mount namespace over copies of /etc/ufw, /lib/ufw and
//! /etc/default/ufw, so the machine's own ufw configuration is never touched. firewalld runs
//! for real inside the namespace with a dbus-daemon of its own, in a private mount namespace
//! over a tmpfs /run (the bus socket) and a copy of /etc/firewalld. The persist steps of the
//! nftables and iptables plans are run as a boot runs them: /etc/nftables.conf reloaded, and
//! Debian's netfilter-persistent `save`, `flush` and `start`. Needs root,
//! python3, nft, iptables, ufw and firewalld (scripts/install-test-deps.sh).

mod common;
#[path = "common/netns.rs"]
mod netns;
#[path = "common/samba.rs"]
mod samba;

use common::{ChildGuard, portwatch, start_ready, stderr, stdout};
use netns::{
    Veth, assert_route_in, blackhole, ip, ip_in, kill_all_in, link as veth_link, portwatch_in,
    python_in, sh_quiet,
};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The ports every test host listens on.
const LISTEN: [u16; 4] = [22, 139, 445, 8000];

/// A TCP echo server on every port given as an argument, on IPv6 and IPv4 (one dual-stack
/// socket a port); prints `ready` once all listen.
const ECHO_SERVER: &str = r#"
import selectors, socket, sys
sel = selectors.DefaultSelector()
for port in map(int, sys.argv[1:]):
    s = socket.socket(socket.AF_INET6)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", port))
    s.listen(16)
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ, None)
print("ready", flush=True)
while True:
    for key, _ in sel.select():
        if key.data is None:
            conn, _ = key.fileobj.accept()
            sel.register(conn, selectors.EVENT_READ, "conn")
        else:
            try:
                data = key.fileobj.recv(4096)
                if data:
                    key.fileobj.sendall(data)
                    continue
            except OSError:
                pass
            sel.unregister(key.fileobj)
            key.fileobj.close()
"#;

/// Which firewall tool a host's commands run with.
#[derive(Clone, Copy, PartialEq)]
enum Tool {
    Nft,
    IptablesNft,
    IptablesLegacy,
    Ufw,
    /// Samba's own configuration: smbd and nmbd own 139 and 445, the echo server does not.
    Samba,
    /// A firewalld of the test's own, with its own D-Bus system bus, in a private mount
    /// namespace over a tmpfs /run and a copy of /etc/firewalld.
    Firewalld,
}

impl Tool {
    /// The iptables backend its `iptables` runs: `legacy` for IptablesLegacy, else `nft`.
    fn iptables_backend(self) -> &'static str {
        match self {
            Tool::IptablesLegacy => "legacy",
            _ => "nft",
        }
    }
}

/// A test host: a namespace, a veth pair, an echo server, and a scratch directory. Everything
/// is removed on drop, also when the test fails.
struct Host {
    ns: String,
    addr: String,
    ours: String,
    /// The host's IPv6 address, `fd00:215:<net>::2`, reached from `fd00:215:<net>::1`.
    addr6: String,
    ours6: String,
    dir: PathBuf,
    tool: Tool,
    server: Option<ChildGuard>,
    /// For firewalld: the process holding the private mount namespace its commands join.
    keeper: Option<ChildGuard>,
    /// The namespace and the veth pair, removed after what [`Host`]'s drop stops.
    link: Veth,
}

impl Host {
    /// Host `10.215.<net>.2` and `fd00:215:<net>::2`, reached from `10.215.<net>.1` and
    /// `fd00:215:<net>::1` in the root namespace.
    fn new(tag: &str, net: u8, tool: Tool) -> Host {
        let ns = format!("pwx-kb-{tag}");
        let veth = format!("pwx-kb-{tag}h");
        let peer = format!("pwx-kb-{tag}n");
        assert!(veth.len() <= 15, "interface name {veth} too long");
        // Removes what an earlier run left of these names.
        let link = Veth::new(&ns, &veth, &peer);
        let dir = std::env::temp_dir().join(format!("{ns}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let addr = format!("10.215.{net}.2");
        let ours = format!("10.215.{net}.1");
        let mut host = Host {
            ns,
            addr,
            ours,
            addr6: format!("fd00:215:{net}::2"),
            ours6: format!("fd00:215:{net}::1"),
            dir,
            tool,
            server: None,
            keeper: None,
            link,
        };
        // The blackhole keeps a scan of a vanished host from leaving the machine.
        blackhole("10.215.0.0/16", None);
        blackhole("fd00:215::/32", None);
        // IPv6 without duplicate address detection: the address is usable at once.
        host.link.up(
            &[format!("{}/24", host.ours), format!("{}/64", host.ours6)],
            &[format!("{}/24", host.addr), format!("{}/64", host.addr6)],
        );
        host.check_route();
        host.write_shims();
        host.start_server();
        if tool == Tool::Firewalld {
            host.start_firewalld();
        }
        host
    }

    /// Starts dbus-daemon and firewalld inside the namespace, in a mount namespace of their
    /// own: /run is a tmpfs (so the system bus socket is private) and /etc/firewalld a copy
    /// under the test's directory. The keeper shell waits there; [`Host::sh`] joins it.
    fn start_firewalld(&mut self) {
        let d = self.dir.display();
        let script = format!(
            "set -e\ncp -a /etc/firewalld {d}/etc-firewalld\nmount -t tmpfs tmpfs /run\nmount --bind {d}/etc-firewalld /etc/firewalld\nmkdir -p /run/dbus\ndbus-daemon --system --fork\nfirewalld --nofork --nopid --log-target console >{d}/firewalld.log 2>&1 &\nfor i in $(seq 150); do firewall-cmd --state >/dev/null 2>&1 && break; sleep 0.2; done\nfirewall-cmd --state >/dev/null\necho ready\nexec sleep 600\n"
        );
        let child = start_ready(
            Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    &self.ns,
                    "unshare",
                    "-m",
                    "--propagation",
                    "private",
                ])
                .args(["sh", "-c", &script]),
            "start firewalld",
            || {
                format!(
                    "firewalld did not start: {}",
                    std::fs::read_to_string(self.dir.join("firewalld.log")).unwrap_or_default()
                )
            },
        );
        self.keeper = Some(child);
    }

    /// Refuses to go on unless both of the host's addresses are routed through our veth.
    fn check_route(&self) {
        for addr in [&self.addr, &self.addr6] {
            self.link.assert_route(addr);
        }
    }

    /// `sudo` that runs its arguments, and iptables/ip6tables for the chosen backend.
    fn write_shims(&self) {
        let bin = self.dir.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        write_exec(&bin.join("sudo"), "#!/bin/sh\nexec \"$@\"\n");
        let backend = self.tool.iptables_backend();
        for tool in ["iptables", "ip6tables"] {
            write_exec(
                &bin.join(tool),
                &format!("#!/bin/sh\nexec /usr/sbin/{tool}-{backend} \"$@\"\n"),
            );
        }
        if self.tool == Tool::Ufw {
            let state = self.dir.join("ufw");
            std::fs::create_dir_all(&state).unwrap();
            for (from, to) in [("/etc/ufw", "etc-ufw"), ("/lib/ufw", "lib-ufw")] {
                let ok = Command::new("cp")
                    .args(["-a", from])
                    .arg(state.join(to))
                    .status()
                    .unwrap();
                assert!(ok.success(), "copy {from}");
            }
            std::fs::copy("/etc/default/ufw", state.join("default-ufw")).unwrap();
        }
    }

    fn start_server(&mut self) {
        let ports: Vec<String> = LISTEN
            .iter()
            .filter(|&&p| self.tool != Tool::Samba || !matches!(p, 139 | 445))
            .map(u16::to_string)
            .collect();
        self.server = Some(self.python(ECHO_SERVER, &ports));
    }

    /// Runs a Python `script` with `args` in the namespace and waits for its `ready` line.
    fn python(&self, script: &str, args: &[String]) -> ChildGuard {
        python_in(Some(&self.ns), script, args)
    }

    /// Runs a shell script inside the namespace (for ufw: in a private mount namespace over
    /// the copied ufw state), with the shims first on PATH; returns stdout, panics on failure.
    fn sh(&self, script: &str) -> String {
        let mut full = String::from("set -e\n");
        if self.tool == Tool::Ufw {
            let state = self.dir.join("ufw");
            full.push_str(&format!(
                "mount --bind {0}/etc-ufw /etc/ufw\nmount --bind {0}/lib-ufw /lib/ufw\nmount --bind {0}/default-ufw /etc/default/ufw\n",
                state.display()
            ));
        }
        full.push_str(script);
        let path = format!(
            "{}:/usr/sbin:/usr/bin:/sbin:/bin",
            self.dir.join("bin").display()
        );
        let mut cmd = Command::new("ip");
        if let Some(keeper) = &self.keeper {
            cmd = Command::new("nsenter");
            cmd.args(["-t", &keeper.0.id().to_string(), "-m", "-n"]);
        } else {
            cmd.args(["netns", "exec", &self.ns]);
        }
        if self.tool == Tool::Ufw {
            cmd.args(["unshare", "-m", "--propagation", "private"]);
        }
        let out = cmd
            .args(["sh", "-c", &full])
            .env("PATH", path)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "script failed in {}:\n{full}\nstdout: {}\nstderr: {}",
            self.ns,
            stdout(&out),
            stderr(&out)
        );
        stdout(&out)
    }

    /// The plan `portwatch fix ARGS --format json` prints.
    fn plan(&self, args: &[&str]) -> Value {
        let mut all = vec!["fix"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--format", "json"]);
        let out = portwatch(&all);
        assert_eq!(out.status.code(), Some(0), "{all:?}: {}", stderr(&out));
        serde_json::from_str(&stdout(&out)).unwrap()
    }

    /// Runs the plan's close-stage commands, as printed, in order.
    fn apply(&self, plan: &Value) -> Vec<String> {
        self.apply_with(plan, None)
    }

    /// Like [`Host::apply`], and once the command containing `pause_after` has run, sends a
    /// packet over `session`, as an admin's SSH session does when it shows that command's output.
    fn apply_with(&self, plan: &Value, session: Option<(&str, &mut TcpStream)>) -> Vec<String> {
        assert_eq!(plan["proven_here"], true, "{plan}");
        let commands: Vec<String> = plan["steps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["stage"] == "close" && s["kind"] == "command")
            .map(|s| s["run"].as_str().unwrap().to_owned())
            .collect();
        assert!(!commands.is_empty(), "{plan}");
        match session {
            None => {
                self.sh(&commands.join("\n"));
            }
            Some((pause_after, stream)) => {
                let at = commands
                    .iter()
                    .position(|c| c.contains(pause_after))
                    .unwrap_or_else(|| panic!("no command contains {pause_after:?}"));
                self.sh(&commands[..=at].join("\n"));
                echo(stream, b"output of the last command");
                self.sh(&commands[at + 1..].join("\n"));
            }
        }
        commands
    }

    /// `port/tcp` → state, from a scan of the host's IPv4 address from outside.
    fn scan(&self) -> Vec<(u16, String)> {
        self.scan_at(&self.addr)
    }

    /// `port/tcp` → state, from a scan of the host's IPv6 address from outside.
    fn scan6(&self) -> Vec<(u16, String)> {
        self.scan_at(&self.addr6)
    }

    /// `port/tcp` → state, from a scan of `addr` (one of the host's) from outside.
    fn scan_at(&self, addr: &str) -> Vec<(u16, String)> {
        let spec = format!("T:{}", LISTEN.map(|p| p.to_string()).join(","));
        port_states(&self.scan_jsonl(addr, &spec, &["--no-probes"]))
    }

    /// `portwatch scan ADDR -p SPEC --assume-up --all EXTRA… --format jsonl` of `addr` (one
    /// of the host's) from outside, once its route is checked: what it printed.
    fn scan_jsonl(&self, addr: &str, spec: &str, extra: &[&str]) -> String {
        self.check_route();
        let mut args = vec!["scan", addr, "-p", spec, "--assume-up", "--all"];
        args.extend_from_slice(extra);
        args.extend(["--format", "jsonl"]);
        let out = portwatch(&args);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        stdout(&out)
    }

    /// Asserts `closed_port` is filtered and every other listener still open, over IPv4 and
    /// over IPv6.
    fn assert_only_closed(&self, closed_port: u16) {
        for (family, states) in [("IPv4", self.scan()), ("IPv6", self.scan6())] {
            for port in LISTEN {
                let state = states.iter().find(|(p, _)| *p == port).map_or_else(
                    || panic!("{port} missing from the {family} scan: {states:?}"),
                    |(_, s)| s.as_str(),
                );
                if port == closed_port {
                    assert_eq!(state, "filtered", "{port} over {family}: {states:?}");
                } else {
                    assert_eq!(
                        state, "open",
                        "{port} over {family} must stay open: {states:?}"
                    );
                }
            }
        }
    }

    /// Runs the plan's printed verify scan (with <host> replaced) and checks what it reports.
    fn assert_verify_step_holds(&self, plan: &Value, port: u16) {
        let run = plan["steps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["stage"] == "verify")
            .map(|s| s["run"].as_str().unwrap())
            .find(|r| r.starts_with("portwatch scan"))
            .expect("a verify scan step");
        self.check_route();
        let args: Vec<String> = run
            .split_whitespace()
            .skip(1)
            .map(|a| a.replace("<host>", &self.addr))
            .collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = portwatch(&args);
        let text = stdout(&out);
        assert!(
            text.contains(&format!("{port}/tcp")) && text.contains("filtered"),
            "verify step {run:?} printed:\n{text}\n{}",
            stderr(&out)
        );
        assert!(text.contains(&format!("{}: up", self.addr)), "{text}");
    }

    /// An established connection to `port` that echoes.
    fn session(&self, port: u16) -> TcpStream {
        let addr: SocketAddr = format!("{}:{port}", self.addr).parse().unwrap();
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        echo(&mut s, b"before");
        s
    }

    /// Whether a new connection to `port` is accepted within a second.
    fn new_connection_accepted(&self, port: u16) -> bool {
        let addr: SocketAddr = format!("{}:{port}", self.addr).parse().unwrap();
        TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok()
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.server = None;
        if self.keeper.take().is_some() {
            // dbus-daemon, firewalld and what D-Bus started for it (polkitd) live on in the
            // namespace: kill every process in it.
            kill_all_in(&self.ns);
        }
        for daemon in ["smbd", "nmbd"] {
            let pid = self.dir.join(format!("samba/pid/{daemon}.pid"));
            if let Ok(pid) = std::fs::read_to_string(pid) {
                let _ = Command::new("kill").arg(pid.trim()).status();
            }
        }
        // The namespace and the veth pair go when `link` drops, after this.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn write_exec(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Sends `data` and expects it back.
fn echo(s: &mut TcpStream, data: &[u8]) {
    s.write_all(data).unwrap();
    let mut back = vec![0; data.len()];
    s.read_exact(&mut back)
        .unwrap_or_else(|e| panic!("no echo for {:?}: {e}", String::from_utf8_lossy(data)));
    assert_eq!(back, data);
}

// ---- nftables ----

/// Rules that were there before: an accept for 139 in the input chain, another table.
const NFT_BEFORE: &str = "nft -f - <<'EOF'
table inet filter {
chain input {
type filter hook input priority 0; policy accept;
tcp dport 139 accept comment \"pwx-keep-accept\"
}
}
table ip pwx_keep {
chain c {
counter comment \"pwx-keep-table\"
}
}
EOF
";

#[test]
fn nftables_closes_139_ahead_of_an_existing_accept_and_keeps_the_ruleset() {
    let host = Host::new("nft1", 1, Tool::Nft);
    host.sh(NFT_BEFORE);
    host.assert_139_plan_closes_keeping(
        "nftables",
        "nft list ruleset",
        &["pwx-keep-accept", "pwx-keep-table"],
    );
}

#[test]
fn nftables_with_source_keeps_the_allowed_network_in() {
    let host = Host::new("nft2", 2, Tool::Nft);
    let client = Client::new(&host, "nft2", 2);
    host.assert_source_plan_lets_only_the_source_in(&client, "nftables");
    let other = host.plan(&[
        "139",
        "--platform",
        "nftables",
        "--source",
        "10.215.2.128/25",
    ]);
    host.apply(&other);
    host.assert_only_closed(139);
}

#[test]
fn nftables_ssh_plan_keeps_the_established_session() {
    // No inet filter table yet: the plan's first command creates it.
    let host = Host::new("nft3", 3, Tool::Nft);
    host.assert_ssh_plan_keeps_the_session("nftables", None);
}

/// The nftables plan's boot persistence, run as a boot would: its configuration lines go at
/// the top of the input chain of Debian's default /etc/nftables.conf (a copy), the unit its
/// persist step enables loads that file, and after the ruleset is flushed (the unit's stop)
/// and the file loaded (its start), 139 is filtered again over IPv4 and IPv6 and the other
/// listeners open. (iptables' persist step is proven by
/// `iptables_*_persisted_rules_close_139_again_after_a_reboot_with_netfilter_persistent`.)
#[test]
fn nftables_persisted_lines_close_139_again_after_a_reload_of_nftables_conf() {
    let host = Host::new("nft6", 27, Tool::Nft);
    let plan = host.plan(&["139", "--platform", "nftables"]);
    host.apply(&plan);
    host.assert_only_closed(139);

    let step = |kind: &str| -> Vec<String> {
        plan["steps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["kind"] == kind)
            .map(|s| s["run"].as_str().unwrap().to_owned())
            .collect()
    };
    // `systemctl enable nftables` makes Debian's unit load /etc/nftables.conf at boot.
    assert_eq!(step("persist"), ["sudo systemctl enable nftables"]);
    let unit = std::fs::read_to_string("/lib/systemd/system/nftables.service")
        .expect("Debian's nftables.service (package nftables)");
    assert!(
        unit.lines()
            .any(|l| l.trim() == "ExecStart=/usr/sbin/nft -f /etc/nftables.conf"),
        "{unit}"
    );
    let lines = step("config").join("\n");
    let debian = std::fs::read_to_string("/etc/nftables.conf").expect("/etc/nftables.conf");
    let conf = host.dir.join("nftables.conf");
    std::fs::write(&conf, with_lines_atop_input(&debian, &lines)).unwrap();

    // A reboot, as the unit does it: stop flushes the ruleset, start loads the file.
    host.sh("nft flush ruleset");
    assert!(only(&host.scan(), 139, "open"), "{:?}", host.scan());
    host.sh(&format!("nft -f {}", conf.display()));
    host.assert_only_closed(139);
}

/// `conf` with `lines` inserted at the top of its `chain input` block, after the chain's
/// `type ... hook input ...` line, as the plan's configuration step says.
fn with_lines_atop_input(conf: &str, lines: &str) -> String {
    let mut out = String::new();
    let mut in_input = false;
    let mut placed = false;
    for line in conf.lines() {
        out.push_str(line);
        out.push('\n');
        if line.trim_start().starts_with("chain input") {
            in_input = true;
        } else if in_input && !placed && line.contains("hook input") {
            for rule in lines.lines() {
                out.push_str(&format!("\t\t{rule}\n"));
            }
            placed = true;
        }
    }
    assert!(placed, "no input chain with a hook in:\n{conf}");
    out
}

// ---- iptables (nft and legacy backends) ----

const IPTABLES_BEFORE: &str =
    "iptables -A INPUT -p tcp --dport 139 -m comment --comment pwx-keep-accept -j ACCEPT
iptables -N PWX_KEEP
ip6tables -A INPUT -p tcp --dport 139 -m comment --comment pwx-keep-accept6 -j ACCEPT
";
/// Lists the IPv4 and IPv6 rules.
const IPTABLES_LIST: &str = "iptables -S && ip6tables -S";
/// What [`IPTABLES_BEFORE`] loaded, as [`IPTABLES_LIST`] shows it.
const IPTABLES_KEPT: [&str; 3] = ["pwx-keep-accept", "-N PWX_KEEP", "pwx-keep-accept6"];

fn iptables_closes_139(tag: &str, net: u8, tool: Tool) {
    let host = Host::new(tag, net, tool);
    host.sh(IPTABLES_BEFORE);
    host.assert_139_plan_closes_keeping("iptables", IPTABLES_LIST, &IPTABLES_KEPT);
}

fn iptables_ssh_keeps_session(tag: &str, net: u8, tool: Tool) {
    let host = Host::new(tag, net, tool);
    host.assert_ssh_plan_keeps_the_session("iptables", None);
}

#[test]
fn iptables_nft_closes_139_ahead_of_an_existing_accept_and_keeps_the_rules() {
    iptables_closes_139("ipn1", 4, Tool::IptablesNft);
}

#[test]
fn iptables_legacy_closes_139_ahead_of_an_existing_accept_and_keeps_the_rules() {
    iptables_closes_139("ipl1", 5, Tool::IptablesLegacy);
}

#[test]
fn iptables_nft_ssh_plan_keeps_the_established_session() {
    iptables_ssh_keeps_session("ipn2", 6, Tool::IptablesNft);
}

#[test]
fn iptables_legacy_ssh_plan_keeps_the_established_session() {
    iptables_ssh_keeps_session("ipl2", 7, Tool::IptablesLegacy);
}

/// Debian's netfilter-persistent and iptables-persistent packages, unpacked (not installed:
/// Debian's ufw package breaks iptables-persistent) by scripts/install-test-deps.sh.
const NETFILTER_PERSISTENT: &str = "/var/cache/portwatch-test/netfilter-persistent";

/// The iptables plan's boot persistence, run with Debian's own netfilter-persistent: after the
/// plan, its persist step `netfilter-persistent save` writes /etc/iptables/rules.v4 and .v6;
/// a reboot is the package's `flush` (139 is open again, the rules loaded before are gone) and
/// then what its unit runs at boot, `netfilter-persistent start`: 139 is filtered again over
/// IPv4 and IPv6, the other listeners are open and the rules loaded before are back. The
/// package's files are laid over /usr and /etc in a private mount namespace, /etc/iptables is
/// a directory of the test's, and the package's scripts set their own PATH, so the backend is
/// chosen as `update-alternatives` does: /usr/sbin/iptables and its siblings link to the
/// backend's binary.
fn iptables_persisted_rules_close_139_again_after_a_reboot(tag: &str, net: u8, tool: Tool) {
    let package = Path::new(NETFILTER_PERSISTENT);
    let unit =
        std::fs::read_to_string(package.join("lib/systemd/system/netfilter-persistent.service"))
            .expect("netfilter-persistent unpacked by scripts/install-test-deps.sh");
    assert!(
        unit.lines()
            .any(|l| l.trim() == "ExecStart=/usr/sbin/netfilter-persistent start"),
        "{unit}"
    );
    let host = Host::new(tag, net, tool);
    let backend = tool.iptables_backend();
    let alternatives = host.dir.join("alternatives/usr/sbin");
    std::fs::create_dir_all(&alternatives).unwrap();
    for family in ["iptables", "ip6tables"] {
        for suffix in ["", "-save", "-restore"] {
            std::os::unix::fs::symlink(
                format!("/usr/sbin/{family}-{backend}{suffix}"),
                alternatives.join(format!("{family}{suffix}")),
            )
            .unwrap();
        }
    }
    let saved = host.dir.join("etc-iptables");
    std::fs::create_dir_all(&saved).unwrap();
    let persistent = |command: &str| {
        host.sh(&format!(
            "unshare -m --propagation private sh -ec '\
             mount -t overlay overlay -o lowerdir={alt}:{pkg}/usr:/usr /usr\n\
             mount -t overlay overlay -o lowerdir={pkg}/etc:/etc /etc\n\
             mount --bind {saved} /etc/iptables\n\
             {command}'",
            alt = host.dir.join("alternatives/usr").display(),
            pkg = package.display(),
            saved = saved.display(),
        ))
    };

    host.sh(IPTABLES_BEFORE);
    let plan = host.plan(&["139", "--platform", "iptables"]);
    host.apply(&plan);
    host.assert_only_closed(139);
    let persist: Vec<&str> = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["kind"] == "persist")
        .map(|s| s["run"].as_str().unwrap())
        .collect();
    assert_eq!(persist, ["sudo netfilter-persistent save"]);
    persistent(persist[0]);
    for file in ["rules.v4", "rules.v6"] {
        let rules = std::fs::read_to_string(saved.join(file)).unwrap();
        assert!(
            rules.contains("--dport 139") && rules.contains("-j DROP"),
            "{file}:\n{rules}"
        );
    }

    // A reboot: the tables come up empty, then the unit loads the saved rules.
    persistent("netfilter-persistent flush");
    assert!(only(&host.scan(), 139, "open"), "{:?}", host.scan());
    assert!(!host.sh("iptables -S").contains("pwx-keep-accept"));
    persistent("netfilter-persistent start");
    host.assert_only_closed(139);
    let rules = host.sh("iptables -S && ip6tables -S");
    for kept in ["pwx-keep-accept", "-N PWX_KEEP", "pwx-keep-accept6"] {
        assert!(rules.contains(kept), "{kept} not restored:\n{rules}");
    }
}

#[test]
fn iptables_nft_persisted_rules_close_139_again_after_a_reboot_with_netfilter_persistent() {
    iptables_persisted_rules_close_139_again_after_a_reboot("ipn6", 28, Tool::IptablesNft);
}

#[test]
fn iptables_legacy_persisted_rules_close_139_again_after_a_reboot_with_netfilter_persistent() {
    iptables_persisted_rules_close_139_again_after_a_reboot("ipl6", 29, Tool::IptablesLegacy);
}

/// The root namespace's firewall as nftables (and so iptables-nft) and iptables-legacy list
/// it: a test must leave it as it found it.
fn root_firewall() -> String {
    let out = Command::new("sh")
        .args([
            "-c",
            "nft list ruleset; iptables-legacy-save | grep -v '^#'; ip6tables-legacy-save | grep -v '^#'",
        ])
        .output()
        .expect("list the root namespace's firewall");
    stdout(&out)
}

/// Runs `test`, then checks the root namespace's firewall is as `test` found it.
fn keeping_the_root_firewall(test: impl FnOnce()) {
    let before = root_firewall();
    test();
    assert_eq!(
        root_firewall(),
        before,
        "the root namespace's firewall changed"
    );
}

/// The checks each firewall's plans must pass.
impl Host {
    /// Applies the plan for 139 of `platform`: 139 is filtered and the other listeners open,
    /// the `list` command still shows each of `kept` (the rules that were there before), and
    /// the plan's own verify step holds.
    fn assert_139_plan_closes_keeping(&self, platform: &str, list: &str, kept: &[&str]) {
        let plan = self.plan(&["139", "--platform", platform]);
        self.apply(&plan);
        self.assert_only_closed(139);
        self.assert_rules_kept(list, kept);
        self.assert_verify_step_holds(&plan, 139);
    }

    /// The `list` command shows each of `kept`.
    fn assert_rules_kept(&self, list: &str, kept: &[&str]) {
        let rules = self.sh(list);
        for k in kept {
            assert!(rules.contains(k), "{k} gone:\n{rules}");
        }
    }

    /// Applies the plan for 139 of `platform` that lets in only our own address (`--source
    /// OURS/32`). We scan from inside the allowed network, so every listener still answers
    /// us; `client` finds 139 filtered and the rest open; and our IPv6 address is not in the
    /// allowed IPv4 network either.
    fn assert_source_plan_lets_only_the_source_in(&self, client: &Client, platform: &str) {
        let source = format!("{}/32", self.ours);
        let plan = self.plan(&["139", "--platform", platform, "--source", &source]);
        self.apply(&plan);
        assert!(only(&self.scan(), 139, "open"), "{:?}", self.scan());
        assert!(only(&client.scan(), 139, "filtered"), "{:?}", client.scan());
        assert!(only(&self.scan6(), 139, "filtered"), "{:?}", self.scan6());
    }

    /// Opens a session to 22 and applies the plan for 22 of `platform` (with `pause_after`,
    /// the session sends a packet once the command containing it has run, as
    /// [`Host::apply_with`] does): the session still echoes, a new connection is not
    /// accepted, and 22 alone is filtered.
    fn assert_ssh_plan_keeps_the_session(&self, platform: &str, pause_after: Option<&str>) {
        let mut session = self.session(22);
        let plan = self.plan(&["22", "--platform", platform]);
        self.apply_with(&plan, pause_after.map(|cmd| (cmd, &mut session)));
        echo(&mut session, b"after the rules");
        assert!(!self.new_connection_accepted(22));
        self.assert_only_closed(22);
    }
}

/// A second client, in namespace `pwx-kb-<tag>c`, on its own link to the host
/// (`10.215.<net + 100>.0/24`: client .1, host .2): not the source a plan allows.
struct Client {
    ns: String,
    host_addr: String,
}

impl Client {
    fn new(host: &Host, tag: &str, net: u8) -> Client {
        let ns = format!("pwx-kb-{tag}c");
        let (ours, theirs) = (format!("pwx-kb-{tag}c"), format!("pwx-kb-{tag}d"));
        sh_quiet(&format!("ip netns del {ns}"));
        let link = net + 100;
        ip(&["netns", "add", &ns]);
        let host_end = format!("10.215.{link}.2/24");
        let client_end = format!("10.215.{link}.1/24");
        veth_link(
            (&ours, Some(&host.ns), &host_end),
            (&theirs, Some(&ns), &client_end),
        );
        ip_in(&ns, &["link", "set", "lo", "up"]);
        let client = Client {
            ns,
            host_addr: format!("10.215.{link}.2"),
        };
        assert_route_in(&client.ns, &client.host_addr, &format!("dev {theirs} "));
        client
    }

    /// `port` → state, from a TCP scan of the host's listeners from this client.
    fn scan(&self) -> Vec<(u16, String)> {
        let spec = format!("T:{}", LISTEN.map(|p| p.to_string()).join(","));
        let out = portwatch_in(
            &self.ns,
            &[
                "scan",
                &self.host_addr,
                "-p",
                &spec,
                "--assume-up",
                "--all",
                "--no-probes",
                "--format",
                "jsonl",
            ],
        );
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        port_states(&stdout(&out))
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
    }
}

/// The port lines of a jsonl scan.
fn port_lines(jsonl: &str) -> Vec<Value> {
    common::json_lines(jsonl)
        .into_iter()
        .filter(|v| v["port"].is_u64())
        .collect()
}

/// `port` → state of each port line of a jsonl scan.
fn port_states(jsonl: &str) -> Vec<(u16, String)> {
    port_lines(jsonl)
        .into_iter()
        .map(|v| {
            (
                v["port"].as_u64().unwrap() as u16,
                v["state"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// Whether every listener but `port` is open in `states`, and `port` is `state`.
fn only(states: &[(u16, String)], port: u16, state: &str) -> bool {
    LISTEN.iter().all(|p| {
        let want = if *p == port { state } else { "open" };
        states.iter().any(|(q, s)| q == p && s == want)
    })
}

fn iptables_source_lets_only_the_source_in(tag: &str, net: u8, tool: Tool) {
    keeping_the_root_firewall(|| {
        let host = Host::new(tag, net, tool);
        let client = Client::new(&host, tag, net);
        host.sh(IPTABLES_BEFORE);
        assert!(only(&client.scan(), 139, "open"), "{:?}", client.scan());
        host.assert_source_plan_lets_only_the_source_in(&client, "iptables");
        host.assert_rules_kept(IPTABLES_LIST, &IPTABLES_KEPT);
    });
}

#[test]
fn iptables_nft_source_plan_lets_only_the_source_in() {
    iptables_source_lets_only_the_source_in("ipn3", 12, Tool::IptablesNft);
}

#[test]
fn iptables_legacy_source_plan_lets_only_the_source_in() {
    iptables_source_lets_only_the_source_in("ipl3", 13, Tool::IptablesLegacy);
}

/// A UDP server on 137 inside the namespace, on IPv6 and IPv4, that answers every datagram
/// (so a scan reports it open); prints `ready` once bound.
const UDP_ANSWERER: &str = r#"
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(("::", 137))
print("ready", flush=True)
while True:
    data, peer = s.recvfrom(2048)
    s.sendto(b"answer", peer)
"#;

impl Host {
    /// Starts an [`ECHO_SERVER`] on `port` alone in the namespace.
    fn tcp_echo(&self, port: u16) -> ChildGuard {
        self.python(ECHO_SERVER, &[port.to_string()])
    }

    /// Starts [`UDP_ANSWERER`] in the namespace.
    fn udp_answerer(&self) -> ChildGuard {
        self.python(UDP_ANSWERER, &[])
    }

    /// `port` → (state, reason) of a UDP scan of `ports` of `addr` (one of the host's) from
    /// outside.
    fn scan_udp(&self, addr: &str, ports: &str) -> Vec<(u16, String, String)> {
        port_lines(&self.scan_jsonl(addr, &format!("U:{ports}"), &[]))
            .into_iter()
            .map(|v| {
                (
                    v["port"].as_u64().unwrap() as u16,
                    v["state"].as_str().unwrap_or_default().to_owned(),
                    v["reason"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }
}

/// What a UDP test loads before the plan and how it finds that rule again afterwards.
struct UdpCase {
    /// `fix --platform` value.
    platform: &'static str,
    /// Commands that allow 137/udp before the plan runs.
    before: &'static str,
    /// The command that lists the rules afterwards.
    listing: &'static str,
    /// Whether the rule loaded before is still in the listing.
    kept: fn(&str) -> bool,
}

const IPTABLES_UDP: UdpCase = UdpCase {
    platform: "iptables",
    before: "iptables -A INPUT -p udp --dport 137 -m comment --comment pwx-keep-udp -j ACCEPT\n",
    listing: "iptables -S",
    kept: |rules| rules.contains("pwx-keep-udp"),
};

/// nftables: an accept for 137/udp in the input chain.
const NFT_UDP: UdpCase = UdpCase {
    platform: "nftables",
    before: "nft -f - <<'RULES'
table inet filter {
chain input {
type filter hook input priority 0; policy accept;
udp dport 137 accept comment \"pwx-keep-udp\"
}
}
RULES
",
    listing: "nft list ruleset",
    kept: |rules| rules.contains("pwx-keep-udp"),
};

/// ufw: an allow with exactly the plan's match (ufw would skip a deny that matches the same
/// traffic) below an application profile that also allows 137/udp, which stays.
const UFW_UDP: UdpCase = UdpCase {
    platform: "ufw",
    before: "ufw allow Samba\nufw allow 137/udp\n",
    listing: "ufw status verbose",
    kept: |status| {
        status
            .lines()
            .any(|l| l.contains("(Samba)") && l.contains("ALLOW"))
    },
};

/// firewalld: 137/udp opened in the default zone with the listeners' ports, and listed after.
const FIREWALLD_UDP: UdpCase = UdpCase {
    platform: "firewalld",
    before: "firewall-cmd --permanent --add-port=137/udp --add-port=139/tcp --add-port=445/tcp --add-port=8000/tcp
firewall-cmd --reload
",
    listing: "firewall-cmd --list-ports",
    kept: |ports| ports.contains("137/udp"),
};

/// Which transports of 137 a plan closes: the page of 137 lists TCP and UDP, so `fix 137`
/// closes both in one plan and `fix 137/udp` only UDP.
#[derive(Clone, Copy, PartialEq)]
enum Close137 {
    Udp,
    TcpAndUdp,
}

/// Applies the 137/udp plan of `case.platform` over a rule that allowed 137/udp, with a UDP
/// server answering on 137, and scans from outside before and after.
fn closes_137_udp(tag: &str, net: u8, tool: Tool, case: &UdpCase) {
    closes_137(tag, net, tool, case, Close137::Udp);
}

/// Like [`closes_137_udp`] for `which` transports; with [`Close137::TcpAndUdp`] a TCP echo
/// server listens on 137 too, open before the one plan over IPv4 and IPv6, filtered after.
fn closes_137(tag: &str, net: u8, tool: Tool, case: &UdpCase, which: Close137) {
    keeping_the_root_firewall(|| {
        let host = Host::new(tag, net, tool);
        let _udp = host.udp_answerer();
        let _tcp = (which == Close137::TcpAndUdp).then(|| host.tcp_echo(137));
        host.sh(case.before);
        let tcp_137 =
            |host: &Host| [&host.addr, &host.addr6].map(|addr| host.state_at(addr, "T:137"));
        if which == Close137::TcpAndUdp {
            assert_eq!(tcp_137(&host), ["open", "open"], "137/tcp before the plan");
        }
        let udp = |host: &Host| host.scan_udp(&host.addr, "137,5001");
        let udp6 = |host: &Host| host.scan_udp(&host.addr6, "137");
        let state = |got: &[(u16, String, String)], port: u16| {
            let (_, s, r) = got.iter().find(|(p, _, _)| *p == port).unwrap();
            (s.clone(), r.clone())
        };
        let got = udp(&host);
        assert_eq!(state(&got, 137).0, "open", "{got:?}");
        let got6 = udp6(&host);
        assert_eq!(state(&got6, 137).0, "open", "IPv6: {got6:?}");
        // A port nobody listens on: closed, or filtered where the firewall rejects by default
        // (firewalld's zone); the plan must not change it.
        let other = state(&got, 5001);
        let spec = match which {
            Close137::Udp => "137/udp",
            Close137::TcpAndUdp => "137",
        };
        let plan = host.plan(&[spec, "--platform", case.platform]);
        let transports = match which {
            Close137::Udp => serde_json::json!(["udp"]),
            Close137::TcpAndUdp => serde_json::json!(["tcp", "udp"]),
        };
        assert_eq!(plan["transports"], transports, "{plan}");
        host.apply(&plan);
        if which == Close137::TcpAndUdp {
            assert_eq!(
                tcp_137(&host),
                ["filtered", "filtered"],
                "137/tcp after the plan; {}:\n{}",
                case.listing,
                host.sh(case.listing)
            );
        }
        // 137/udp answers no more (dropped: open|filtered; rejected: filtered); the other UDP
        // port says what it said before; every TCP listener (22 among them) still answers.
        let got = udp(&host);
        let closed = state(&got, 137).0;
        assert!(
            closed == "open|filtered" || closed == "filtered",
            "{got:?} after the plan; {}:\n{}",
            case.listing,
            host.sh(case.listing)
        );
        assert_eq!(state(&got, 5001), other, "{got:?}");
        let got6 = udp6(&host);
        let closed6 = state(&got6, 137).0;
        assert!(
            closed6 == "open|filtered" || closed6 == "filtered",
            "IPv6: {got6:?} after the plan; {}:\n{}",
            case.listing,
            host.sh(case.listing)
        );
        for states in [host.scan(), host.scan6()] {
            assert!(states.iter().all(|(_, s)| s == "open"), "{states:?}");
        }
        let rules = host.sh(case.listing);
        assert!(
            (case.kept)(&rules),
            "the rule loaded before is gone:\n{rules}"
        );
        // The plan's own verify scan, as printed.
        let run = plan["steps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["stage"] == "verify")
            .map(|s| s["run"].as_str().unwrap())
            .find(|r| r.starts_with("portwatch scan"))
            .expect("a verify scan step");
        let args: Vec<String> = run
            .split_whitespace()
            .skip(1)
            .map(|a| a.replace("<host>", &host.addr))
            .collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        host.check_route();
        let out = portwatch(&args);
        let text = stdout(&out);
        assert!(
            text.contains("137/udp") && text.contains(&closed),
            "verify step {run:?} printed:\n{text}\n{}",
            stderr(&out)
        );
        if which == Close137::TcpAndUdp {
            assert!(
                text.lines()
                    .any(|l| l.contains("137/tcp") && l.contains("filtered")),
                "verify step {run:?} printed:\n{text}"
            );
        }
    });
}

#[test]
fn iptables_nft_closes_137_udp_and_keeps_the_rules() {
    closes_137_udp("ipn4", 14, Tool::IptablesNft, &IPTABLES_UDP);
}

#[test]
fn iptables_legacy_closes_137_udp_and_keeps_the_rules() {
    closes_137_udp("ipl4", 15, Tool::IptablesLegacy, &IPTABLES_UDP);
}

#[test]
fn nftables_closes_137_udp_ahead_of_an_existing_accept_and_keeps_the_ruleset() {
    closes_137_udp("nft4", 18, Tool::Nft, &NFT_UDP);
}

#[test]
fn ufw_closes_137_udp_over_an_identical_allow_and_keeps_allow_samba() {
    closes_137_udp("ufw4", 19, Tool::Ufw, &UFW_UDP);
}

#[test]
fn firewalld_closes_137_udp_ahead_of_an_open_port_and_keeps_it_listed() {
    closes_137_udp("fwd4", 20, Tool::Firewalld, &FIREWALLD_UDP);
}

// ---- one plan for 137 over TCP and UDP ----

/// [`IPTABLES_UDP`] with 137/tcp allowed too, over IPv4 and IPv6.
const IPTABLES_TCP_UDP: UdpCase = UdpCase {
    before: "iptables -A INPUT -p udp --dport 137 -m comment --comment pwx-keep-udp -j ACCEPT
iptables -A INPUT -p tcp --dport 137 -j ACCEPT
ip6tables -A INPUT -p tcp --dport 137 -j ACCEPT
",
    ..IPTABLES_UDP
};

#[test]
fn iptables_nft_closes_137_tcp_and_udp_in_one_plan() {
    closes_137(
        "ipn5",
        22,
        Tool::IptablesNft,
        &IPTABLES_TCP_UDP,
        Close137::TcpAndUdp,
    );
}

#[test]
fn iptables_legacy_closes_137_tcp_and_udp_in_one_plan() {
    closes_137(
        "ipl5",
        23,
        Tool::IptablesLegacy,
        &IPTABLES_TCP_UDP,
        Close137::TcpAndUdp,
    );
}

#[test]
fn nftables_closes_137_tcp_and_udp_in_one_plan() {
    let case = UdpCase {
        before: "nft -f - <<'RULES'
table inet filter {
chain input {
type filter hook input priority 0; policy accept;
udp dport 137 accept comment \"pwx-keep-udp\"
tcp dport 137 accept
}
}
RULES
",
        ..NFT_UDP
    };
    closes_137("nft5", 24, Tool::Nft, &case, Close137::TcpAndUdp);
}

#[test]
fn ufw_closes_137_tcp_and_udp_in_one_plan() {
    let case = UdpCase {
        before: "ufw allow Samba\nufw allow 137/udp\nufw allow 137/tcp\n",
        ..UFW_UDP
    };
    closes_137("ufw5", 25, Tool::Ufw, &case, Close137::TcpAndUdp);
}

#[test]
fn firewalld_closes_137_tcp_and_udp_in_one_plan() {
    let case = UdpCase {
        before: "firewall-cmd --permanent --add-port=137/udp --add-port=137/tcp --add-port=139/tcp --add-port=445/tcp --add-port=8000/tcp
firewall-cmd --reload
",
        ..FIREWALLD_UDP
    };
    closes_137("fwd5", 26, Tool::Firewalld, &case, Close137::TcpAndUdp);
}

// ---- firewalld ----

/// Rules that were there before: the listeners' ports opened in the default zone (public
/// allows only ssh and dhcpv6-client), so the plan's drop must come ahead of an accept.
const FIREWALLD_BEFORE: &str =
    "firewall-cmd --permanent --add-port=139/tcp --add-port=445/tcp --add-port=8000/tcp
firewall-cmd --reload
";

#[test]
fn firewalld_closes_139_ahead_of_an_open_port_and_keeps_it_listed() {
    keeping_the_root_firewall(|| {
        let host = Host::new("fwd1", 16, Tool::Firewalld);
        host.sh(FIREWALLD_BEFORE);
        assert!(only(&host.scan(), 139, "open"), "{:?}", host.scan());
        host.assert_139_plan_closes_keeping("firewalld", "firewall-cmd --list-ports", &["139/tcp"]);
    });
}

#[test]
fn firewalld_source_plan_lets_only_the_source_in() {
    keeping_the_root_firewall(|| {
        let host = Host::new("fwd2", 17, Tool::Firewalld);
        let client = Client::new(&host, "fwd2", 17);
        host.sh(FIREWALLD_BEFORE);
        host.assert_source_plan_lets_only_the_source_in(&client, "firewalld");
    });
}

#[test]
fn firewalld_ssh_plan_keeps_the_established_session() {
    keeping_the_root_firewall(|| {
        // The public zone allows ssh by default: the plan's drop must come ahead of it.
        let host = Host::new("fwd3", 21, Tool::Firewalld);
        host.sh(FIREWALLD_BEFORE);
        host.assert_ssh_plan_keeps_the_session("firewalld", None);
    });
}

// ---- ufw ----

#[test]
fn ufw_closes_139_over_allow_samba_and_enabling_keeps_445_open() {
    let host = Host::new("ufw1", 8, Tool::Ufw);
    // An inactive ufw that already allows Samba and 139.
    host.sh("ufw allow Samba\nufw allow 139\nufw allow 139/tcp\n");
    // Enabled, and the allows kept.
    host.assert_139_plan_closes_keeping("ufw", "ufw status", &["Status: active", "Samba", "139 "]);
}

#[test]
fn ufw_with_source_keeps_the_allowed_network_in() {
    let host = Host::new("ufw2", 9, Tool::Ufw);
    let client = Client::new(&host, "ufw2", 9);
    host.sh("ufw allow 139\n");
    host.assert_source_plan_lets_only_the_source_in(&client, "ufw");
    let status = host.sh("ufw status numbered");
    let allow = status.find(&host.ours).expect("source allow listed");
    let deny = status.find("DENY").expect("deny listed");
    assert!(allow < deny, "{status}");
}

#[test]
fn ufw_ssh_plan_keeps_the_established_session() {
    // ufw starts inactive, so the session is older than connection tracking in the namespace.
    let host = Host::new("ufw3", 10, Tool::Ufw);
    host.assert_ssh_plan_keeps_the_session("ufw", Some("ufw --force enable"));
}

// ---- Samba ----

/// Starts a Samba daemon the way the shims restart it: compiled-in /run/samba and
/// /var/log/samba are bind-mounted from `dir` in a private mount namespace.
fn samba_start_script(dir: &Path, daemon: &str) -> String {
    let d = dir.display();
    format!(
        "unshare -m --propagation private sh -c 'mount --bind {d}/run-samba /run/samba && mount --bind {d}/log /var/log/samba && exec /usr/sbin/{daemon} -D -s {d}/smb.conf -l {d}/log'"
    )
}

impl Host {
    /// Writes smb.conf and the shims the Samba plan's commands meet: `systemctl` acts on this
    /// instance's daemons, `testparm` reads this smb.conf, `sudoedit` does nothing (the test
    /// appends the plan's configuration lines itself).
    fn samba_setup(&self, iface: &str) {
        // A throwaway Samba (smbd and nmbd) inside the namespace, all state under `dir`.
        let dir = self.dir.join("samba");
        let conf = samba::global(&dir, "PWXKBSMB", "PWX", iface);
        std::fs::write(dir.join("smb.conf"), conf).unwrap();
        let bin = self.dir.join("bin");
        let d = dir.display();
        write_exec(&bin.join("sudoedit"), "#!/bin/sh\nexit 0\n");
        write_exec(
            &bin.join("testparm"),
            &format!("#!/bin/sh\nexec /usr/bin/testparm \"$@\" {d}/smb.conf\n"),
        );
        write_exec(
            &bin.join("systemctl"),
            &format!(
                "#!/bin/sh\n# systemctl for this test's Samba: try-restart UNIT, disable --now UNIT\nstop() {{ [ -s {d}/pid/$1.pid ] && kill $(cat {d}/pid/$1.pid); for i in $(seq 50); do [ -e /proc/$(cat {d}/pid/$1.pid 2>/dev/null || echo 0) ] || return 0; sleep 0.1; done; }}\ncase \"$1\" in\n  try-restart) stop $2; {smbd} ;;\n  disable) [ \"$2\" = --now ] && stop $3 ;;\n  *) echo \"systemctl shim: $*\" >&2; exit 1 ;;\nesac\n",
                smbd = samba_start_script(&dir, "smbd"),
            ),
        );
        self.sh(&samba_start_script(&dir, "smbd"));
        self.sh(&samba_start_script(&dir, "nmbd"));
    }

    /// Appends the plan's configuration lines to smb.conf's [global] section (the only one).
    fn samba_config(&self, plan: &Value, stage: &str) {
        let conf = self.dir.join("samba/smb.conf");
        let mut text = std::fs::read_to_string(&conf).unwrap();
        for step in plan["steps"].as_array().unwrap() {
            if step["stage"] == stage && step["kind"] == "config" {
                text.push_str(&format!("   {}\n", step["run"].as_str().unwrap()));
            }
        }
        std::fs::write(&conf, text).unwrap();
    }

    /// The plan's commands of `stage`, as printed.
    fn commands(&self, plan: &Value, stage: &str) -> Vec<String> {
        plan["steps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["stage"] == stage && s["kind"] == "command")
            .map(|s| s["run"].as_str().unwrap().to_owned())
            .collect()
    }

    /// State of one port of the host's IPv4 address from outside.
    fn state(&self, spec: &str) -> String {
        self.state_at(&self.addr, spec)
    }

    /// State of one port of `addr` (one of the host's) from outside.
    fn state_at(&self, addr: &str, spec: &str) -> String {
        self.check_route();
        let out = portwatch(&[
            "scan",
            addr,
            "-p",
            spec,
            "--assume-up",
            "--all",
            "--no-probes",
            "--format",
            "jsonl",
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        common::json_lines(&stdout(&out))
            .into_iter()
            .find(|v| v["port"].is_u64())
            .map(|v| v["state"].as_str().unwrap_or_default().to_owned())
            .unwrap_or_default()
    }
}

#[test]
fn samba_139_plan_closes_139_and_only_stopping_nmbd_closes_137_udp() {
    let host = Host::new("smb", 11, Tool::Samba);
    host.samba_setup("pwx-kb-smbn");
    let listening = |port: &str| {
        (0..50).any(|_| {
            let out = host.sh(&format!("ss -Htuln 'sport = :{port}'"));
            !out.trim().is_empty() || {
                std::thread::sleep(Duration::from_millis(200));
                false
            }
        })
    };
    assert!(listening("445") && listening("139") && listening("137"));
    assert_eq!(host.state("T:139"), "open");
    assert_eq!(host.state_at(&host.addr6, "T:139"), "open", "smbd on IPv6");
    assert_eq!(host.state("U:137"), "open");

    let plan = host.plan(&["139", "--platform", "samba"]);
    assert_eq!(plan["proven_here"], true);
    host.samba_config(&plan, "close");
    host.samba_config(&plan, "harden");
    let commands = host.commands(&plan, "harden");
    let nmbd = commands
        .iter()
        .position(|c| c.contains("disable --now nmbd"))
        .expect("an nmbd step");
    // Everything before stopping nmbd: smb.conf says disable netbios, smbd restarted.
    host.sh(&host.commands(&plan, "close").join("\n"));
    host.sh(&commands[..nmbd].join("\n"));
    assert!(listening("445"));
    assert_eq!(host.state("T:139"), "closed", "smb ports = 445 closes 139");
    assert_eq!(host.state_at(&host.addr6, "T:139"), "closed", "on IPv6 too");
    assert_eq!(host.state("T:445"), "open", "445 keeps serving");
    assert_eq!(host.state_at(&host.addr6, "T:445"), "open", "on IPv6 too");
    assert_eq!(
        host.state("U:137"),
        "open",
        "disable netbios = yes alone leaves nmbd answering"
    );
    host.sh(&commands[nmbd..].join("\n"));
    assert_ne!(host.state("U:137"), "open", "stopping nmbd closes 137/udp");
    assert_eq!(host.state("T:445"), "open");
}
