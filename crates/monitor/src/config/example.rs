//! The commented example `portwatch init` writes.

/// A complete, valid configuration with every option explained.
pub const EXAMPLE: &str = r#"# portwatch configuration. Every key is optional except each group's name and
# targets. Unknown keys are errors. Precedence: command-line flags, then the
# environment (PORTWATCH_DATABASE, PORTWATCH_LISTEN), then this file.

# Where history is kept: sqlite://PATH (default: under your data directory)
# or postgres://user@host/db.
# database = "sqlite:///var/lib/portwatch/portwatch.db"

# Dashboard and REST API address for `portwatch run`.
# listen = "127.0.0.1:8080"

# Closed history older than this is pruned; current state is never touched.
keep = "400d"

[alerts]
# A change is confirmed by re-probing before it alerts or resolves.
confirmations = 2          # observations: the scan, then re-probes
confirm_after = "750ms"    # delay before each re-probe (longer than a flap to ignore)
remind_every = "4h"        # while a violation lasts ("0" for never)
send_resolved = true
max_concurrent_scans = 4
# A violation that ends during a maintenance window: "at-end" holds the resolve and
# sends it when the window ends (if the violation has not come back), "at-once" sends
# it right away. A group may set its own.
resolve_in_window = "at-end"

# Where alerts go (any number; groups can pick with notify = ["name"]).
# A secret (url, secret, header values, bot_token, token, routing_key, smtp,
# password) may be written inline or read from a file when the configuration is
# loaded: { file = "/etc/portwatch/secrets/NAME" }, or, under systemd with
# LoadCredential=NAME:/path, { credential = "NAME" } (read from
# $CREDENTIALS_DIRECTORY/NAME). The file's trailing line break is dropped.
# [[notify]]
# name = "ops"
# type = "webhook"                     # webhook, slack, discord, teams, telegram, ntfy, pagerduty, email
# url = "https://hooks.example.org/portwatch"
# secret = { credential = "webhook-secret" }   # HMAC-SHA256 signature header
#
# [[notify]]
# name = "mail"
# type = "email"
# to = ["ops@example.org"]
# from = "portwatch@example.org"
# smtp = "smtp://portwatch@mail.example.org:587?tls=starttls"
# password = { file = "/etc/portwatch/secrets/smtp-password" }   # or in the URL: smtp://user:password@…

[cluster]
# Several `portwatch run` on one PostgreSQL database: one of them (the holder of
# this lease) schedules the scans, every one delivers alerts. The leader renews
# the lease every third of this; when it dies another takes over within it.
lease = "15s"
# An agent not heard from for this long raises an AGENT STALE alert through
# every notifier, and AGENT BACK when it is heard from again.
agent_stale_after = "1m"

[defaults]
# How often each group is scanned unless it says otherwise.
every = "5m"
# Scan options every group inherits (see `portwatch scan --help`).
[defaults.scan]
retries = 1
# rate = 2000            # probes per second at most
# max_parallel = 1000    # probes awaiting an answer at most
probes = true            # identify services (NetBIOS, SMB, banners)

# This machine's exposure: its listening sockets, read from the socket table
# whenever one opens or closes. A socket bound to loopback is reachable from this
# machine only and never breaks a rule; one bound to another address is judged by
# the policy, rated with the firewall's verdict (as `portwatch local` shows it).
# portwatch's own dashboard socket is left out. A local group has no targets,
# exclude, ports or top; `every` re-reads the table (and the firewall) on a schedule.
[[group]]
name = "this-machine"
source = "local"                 # "scan" (the default) scans `targets` instead
every = "5m"
[group.policy]
must_be_closed = ["risky"]

# Scanned groups: uncomment one and put your own addresses in `targets`.
#
# File servers: NetBIOS and SMB must never be reachable.
# [[group]]
# name = "file-servers"
# targets = ["10.0.0.0/24"]        # addresses, 10.0.0.0/24, 10.0.0.1-20, hostnames
# exclude = ["10.0.0.5"]
# every = "1m"
# notify = ["ops"]
# # Maintenance windows: alerts are held back (and sent after, if still true);
# # a resolve is held until the window ends (see resolve_in_window). Times and
# # cron expressions are in UTC.
# [[group.silence]]
# cron = "0 2 * * SUN"
# for = "2h"
# reason = "weekly patching"
# [group.policy]
# # "risky" is portwatch's built-in set of ports that are dangerous on the internet.
# must_be_closed = ["T:137-139,445,U:137,138"]
# severity = "critical"
#
# Web servers: only SSH and HTTPS may be open; HTTPS must be up.
# [[group]]
# name = "web-servers"
# targets = ["web1.example.org", "web2.example.org"]
# cron = "*/10 * * * *"            # in UTC; or every = "10m"
# [group.policy]
# must_be_closed = ["risky"]
# allowed_open = ["22", "443"]     # anything else open is unexpected (top 1000 TCP are scanned)
# expected_open = ["443"]          # closed means down
#
# Seen from several places: `vantages` names where a group is scanned from.
# "local" (this server, the default), "lan" and "internet" are built in; a
# vantage of your own is a top-level table, e.g. a "vantage.dmz" table whose
# `reach` is "lan", "internet", or "address" (rated by each host's address).
# A port found open from "internet" is rated at internet exposure.
# The group's policy applies from every vantage. A "group.policy.from.NAME"
# table changes it for that vantage only: each key it sets (must_be_closed,
# allowed_open, expected_open, severity) replaces the group's key of the same
# name, then its `allow` ports are taken out of must_be_closed.
# [[group]]
# name = "office"
# targets = ["192.0.2.0/28"]
# vantages = ["lan", "internet"]
# [group.policy]
# must_be_closed = ["risky"]
# [group.policy.from.lan]
# allow = ["T:139,445"]            # Samba is fine inside the office, never from outside
#
# A big group can be split into shards that several agents of one vantage (or,
# for "local", several replicas on one PostgreSQL) scan at once: blocks of
# `addresses` addresses x ranges of `ports` ports. The shards' results are
# recorded as one observation; if one shard fails, the whole round fails.
# Both keys are optional; without `shard` a round is one job.
# [[group]]
# name = "campus"
# targets = ["10.16.0.0/12"]
# ports = "1-1000"
# vantages = ["lan"]
# shard = { addresses = 65536, ports = 500 }
"#;
