//! A lab of real servers for the live banner tests (they run as root): one network namespace
//! joined to the root namespace by a [`Veth`], a scratch directory for the servers'
//! configuration, data and logs, the servers started inside the namespace, and the installed
//! packages' versions read from dpkg. Dropping the lab kills every process left in the
//! namespace (each of them is ours), removes the namespace, the pair and the blackhole route,
//! and deletes the scratch directory.
//!
//! Like `netns.rs`, it knows no prefix and no range: each test file gives its own [`Site`].
//! A test file includes it after `common` and `netns`:
//! `#[path = "common/netns.rs"] mod netns; #[path = "common/lab.rs"] mod lab;`.
#![allow(dead_code)]

use crate::common::{ChildGuard, stderr, stdout};
use crate::netns::{Veth, blackhole, kill_all_in};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Where a lab lives: its namespace, the two ends of its veth, the addresses on them (a /24
/// each) and the range blackholed in the root namespace while it runs.
pub struct Site<'a> {
    /// The namespace.
    pub ns: &'a str,
    /// The root namespace's end of the pair.
    pub root: &'a str,
    /// The namespace's end.
    pub peer: &'a str,
    /// The root end's address, without a prefix length.
    pub ours: &'a str,
    /// The namespace end's address, where the servers listen.
    pub host: &'a str,
    /// The blackholed range, in CIDR notation.
    pub range: &'a str,
    /// When other test files share `range`, the prefix of their namespaces' names: the route
    /// then goes only with the last such namespace. `None`: it goes with this lab.
    pub shared_by: Option<&'a str>,
}

/// The test host: a namespace, a veth pair, a scratch directory and the servers started in it.
/// Everything is removed on drop, also when the test fails.
pub struct Lab {
    /// The scratch directory.
    pub dir: PathBuf,
    /// The address the servers listen on.
    pub host: String,
    ns: String,
    servers: Vec<(String, ChildGuard)>,
    veth: Option<Veth>,
}

impl Lab {
    /// Removes what an earlier run left of `site`, blackholes its range, makes the namespace
    /// and the pair with their addresses, and refuses to go on unless `site.host` is reached
    /// through the pair.
    pub fn new(site: &Site) -> Lab {
        kill_all_in(site.ns);
        let dir = std::env::temp_dir().join(format!("{}-{}", site.ns, std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // Servers that drop privileges (PostgreSQL, nginx's workers) must reach their files.
        set_mode(&dir, 0o755);
        let mut veth = Veth::new(site.ns, site.root, site.peer);
        // The blackhole keeps a scan of a vanished host from leaving the machine.
        blackhole(site.range, None);
        let unroute = format!("ip route del blackhole {}", site.range);
        veth.on_teardown(&match site.shared_by {
            Some(prefix) => format!("ip netns list | grep -q '^{prefix}' || {unroute}"),
            None => unroute,
        });
        veth.up(
            &[format!("{}/24", site.ours)],
            &[format!("{}/24", site.host)],
        );
        veth.assert_route(site.host);
        Lab {
            dir,
            host: site.host.to_string(),
            ns: site.ns.to_string(),
            servers: Vec::new(),
            veth: Some(veth),
        }
    }

    /// A path in the scratch directory, as text.
    pub fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    /// Writes a file in the scratch directory and returns its path.
    pub fn write(&self, name: &str, text: &str) -> String {
        std::fs::write(self.dir.join(name), text).unwrap();
        self.path(name)
    }

    /// Makes a directory in the scratch directory and returns its path.
    pub fn mkdir(&self, name: &str) -> String {
        std::fs::create_dir_all(self.dir.join(name)).unwrap();
        self.path(name)
    }

    /// Starts `argv` inside the namespace, its output going to `<name>.log`.
    pub fn start(&mut self, name: &str, argv: &[&str], env: &[(&str, String)]) {
        let log = std::fs::File::create(self.dir.join(format!("{name}.log"))).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns])
            .args(argv)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        self.servers.push((name.to_string(), ChildGuard(child)));
    }

    /// Starts the shell `script` inside the namespace under `unshare FLAGS --propagation
    /// private`: with `-m`, mounts it makes (tmpfs over a server's state) are its own.
    pub fn start_unshared(&mut self, name: &str, flags: &[&str], script: &str) {
        let mut argv = vec!["unshare"];
        argv.extend_from_slice(flags);
        argv.extend(["--propagation", "private", "sh", "-c", script]);
        self.start(name, &argv, &[]);
    }

    /// Waits until the server called `name` accepts connections on `port`.
    pub fn wait_listening(&mut self, name: &str, port: u16, limit: Duration) {
        let addr: SocketAddr = format!("{}:{port}", self.host).parse().unwrap();
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok() {
                return;
            }
            if let Some((_, guard)) = self.servers.iter_mut().find(|(n, _)| n == name)
                && let Ok(Some(status)) = guard.0.try_wait()
            {
                panic!("{name} exited ({status}):\n{}", self.log(name));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!(
            "{name} did not listen on {port} within {limit:?}:\n{}",
            self.log(name)
        );
    }

    /// What the server called `name` wrote so far.
    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(format!("{name}.log"))).unwrap_or_default()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.servers.clear();
        // Processes that outlived the ones we started (PostgreSQL under runuser, epmd, nginx's
        // workers) are in the namespace too; each of them is ours.
        kill_all_in(&self.ns);
        drop(self.veth.take());
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Sets the permission bits of `path`.
pub fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Runs a setup command to completion, panicking with its output when it fails.
pub fn run(what: &str, cmd: &mut Command) {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed:\n{}{}",
        stdout(&out),
        stderr(&out)
    );
}

/// `path` when it is an executable file; otherwise the test cannot go on, and says which
/// package the test command installs it from.
pub fn binary(path: &str, package: &str) -> String {
    assert!(
        Path::new(path).is_file(),
        "{path} not found: install {package} (scripts/install-test-deps.sh does)"
    );
    path.to_string()
}

/// The upstream version of an installed Debian package: `1:9.2p1-2+deb12u6` is `9.2p1`.
pub fn upstream_version(package: &str) -> String {
    let full = deb_version(package);
    let no_epoch = full.split_once(':').map_or(full.as_str(), |(_, v)| v);
    no_epoch
        .rsplit_once('-')
        .map_or(no_epoch, |(v, _)| v)
        .to_string()
}

/// The full version of an installed Debian package.
pub fn deb_version(package: &str) -> String {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f=${Version}", package])
        .output()
        .expect("run dpkg-query");
    let v = stdout(&out).trim().to_string();
    assert!(
        out.status.success() && !v.is_empty(),
        "{package} is not installed (scripts/install-test-deps.sh installs it)"
    );
    v
}

/// The newest PostgreSQL server binaries Debian installed.
pub fn postgres_bin() -> PathBuf {
    let mut dirs: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let major = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((major, bin))
        })
        .collect();
    dirs.sort();
    dirs.pop()
        .map(|(_, bin)| bin)
        .expect("no initdb under /usr/lib/postgresql: install postgresql")
}

/// MariaDB on port 3306, greeting clients from `clients` (an account host pattern such as
/// `10.239.%`).
pub fn start_mariadb(lab: &mut Lab, clients: &str) {
    let mariadbd = binary("/usr/sbin/mariadbd", "mariadb-server");
    let install = binary("/usr/bin/mariadb-install-db", "mariadb-server");
    let data = lab.mkdir("mariadb");
    run(
        "mariadb-install-db",
        Command::new(install).args([
            "--no-defaults",
            &format!("--datadir={data}"),
            "--user=root",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
        ]),
    );
    // A fresh server lets root in from localhost only and refuses everyone else before its
    // greeting; an application account for the test network makes it greet our scanner.
    let init = lab.write(
        "mariadb-init.sql",
        &format!("CREATE USER IF NOT EXISTS 'app'@'{clients}';\n"),
    );
    let host = lab.host.clone();
    lab.start(
        "mariadb",
        &[
            &mariadbd,
            "--no-defaults",
            &format!("--datadir={data}"),
            "--user=root",
            &format!("--bind-address={host}"),
            "--port=3306",
            &format!("--socket={}", lab.path("mariadb.sock")),
            &format!("--pid-file={}", lab.path("mariadb.pid")),
            "--skip-name-resolve",
            "--skip-log-bin",
            &format!("--init-file={init}"),
        ],
        &[],
    );
}

/// PostgreSQL on port 5432, its own cluster in the scratch directory, run as `postgres`.
pub fn start_postgres(lab: &mut Lab) {
    let bin = postgres_bin();
    let data = lab.mkdir("pg");
    let sock = lab.mkdir("pg-sock");
    run(
        "chown",
        Command::new("chown").args(["postgres:postgres", &data, &sock]),
    );
    set_mode(Path::new(&data), 0o700);
    run(
        "initdb",
        Command::new("runuser").args([
            "-u",
            "postgres",
            "--",
            &bin.join("initdb").display().to_string(),
            "-D",
            &data,
            "-U",
            "postgres",
            "-A",
            "trust",
            "--no-sync",
        ]),
    );
    let postgres = bin.join("postgres").display().to_string();
    let listen = format!("listen_addresses={}", lab.host);
    lab.start(
        "postgres",
        &[
            "runuser",
            "-u",
            "postgres",
            "--",
            &postgres,
            "-D",
            &data,
            "-k",
            &sock,
            "-p",
            "5432",
            "-c",
            &listen,
            "-c",
            "fsync=off",
        ],
        &[],
    );
}

/// RabbitMQ on port 5672, as Erlang node `node` (`name@localhost`), with its state in the
/// scratch directory.
pub fn start_rabbitmq(lab: &mut Lab, node: &str) {
    // The server script itself: /usr/sbin/rabbitmq-server switches to the rabbitmq user and
    // the machine's own /var/lib/rabbitmq.
    let server = binary("/usr/lib/rabbitmq/bin/rabbitmq-server", "rabbitmq-server");
    let host = lab.host.clone();
    let env = [
        ("HOME", lab.mkdir("rabbit/home")),
        // An empty env file, so /etc/rabbitmq/rabbitmq-env.conf (node name, interfaces) is
        // not read.
        (
            "RABBITMQ_CONF_ENV_FILE",
            lab.write("rabbit/rabbitmq-env.conf", ""),
        ),
        ("RABBITMQ_NODENAME", node.to_string()),
        ("RABBITMQ_NODE_IP_ADDRESS", host.clone()),
        ("RABBITMQ_NODE_PORT", "5672".to_string()),
        ("RABBITMQ_MNESIA_BASE", lab.mkdir("rabbit/mnesia")),
        ("RABBITMQ_LOG_BASE", lab.mkdir("rabbit/log")),
        (
            "RABBITMQ_CONFIG_FILE",
            lab.write(
                "rabbit/rabbitmq.conf",
                &format!("listeners.tcp.default = {host}:5672\n"),
            ),
        ),
        (
            "RABBITMQ_ENABLED_PLUGINS_FILE",
            lab.write("rabbit/enabled_plugins", "[].\n"),
        ),
        ("RABBITMQ_PID_FILE", lab.path("rabbit/pid")),
        ("ERL_EPMD_ADDRESS", "127.0.0.1".to_string()),
    ];
    lab.start("rabbitmq", &[&server], &env);
}
