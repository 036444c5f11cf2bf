//! Services that identify themselves with a line of text.

use super::ServiceMatch;
use crate::text;

/// The first line of `data`, cleaned, if the data looks like text.
pub(super) fn first_line(data: &[u8]) -> String {
    let end = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    text::printable(&data[..end], 512)
}

/// Splits "Name_1.2" / "Name/1.2" / "Name-1.2" at the first separator followed by a digit.
pub(super) fn split_product(word: &str) -> (&str, &str) {
    let bytes = word.as_bytes();
    for (i, w) in bytes.windows(2).enumerate() {
        if matches!(w[0], b'_' | b'/' | b'-' | b' ') && w[1].is_ascii_digit() {
            return (&word[..i], &word[i + 1..]);
        }
    }
    (word, "")
}

/// `SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u1`.
pub(super) fn ssh(data: &[u8]) -> Option<ServiceMatch> {
    let line = first_line(data);
    let rest = line.strip_prefix("SSH-")?;
    let (proto, software) = rest.split_once('-')?;
    let (software, comment) = software.split_once(' ').unwrap_or((software, ""));
    let (product, version) = split_product(software);
    let mut info = format!("protocol {proto}");
    if !comment.is_empty() {
        info.push_str(&format!("; {comment}"));
    }
    Some(
        ServiceMatch::new("ssh")
            .product(product)
            .version(version)
            .info(info),
    )
}

/// `RFB 003.008`.
pub(super) fn vnc(data: &[u8]) -> Option<ServiceMatch> {
    let line = first_line(data);
    let ver = line.strip_prefix("RFB ")?;
    let (major, minor) = ver.get(..7)?.split_once('.')?;
    let major: u32 = major.parse().ok()?;
    let minor: u32 = minor.parse().ok()?;
    Some(ServiceMatch::new("vnc").info(format!("protocol {major}.{minor}")))
}

/// Redis answers to `INFO server` (a bulk string naming its version) or `PING`, or its
/// refusals.
pub(super) fn redis(data: &[u8]) -> Option<ServiceMatch> {
    let line = first_line(data);
    let m = ServiceMatch::new("redis").product("Redis");
    if line.starts_with('$') && line[1..].parse::<u32>().is_ok() {
        return redis_info(data).map(|(version, mode)| {
            m.version(version)
                .info(format!("{mode} mode, no authentication required"))
        });
    }
    if line == "+PONG" {
        Some(m.info("no authentication required"))
    } else if line.starts_with("-NOAUTH") || line.starts_with("-WRONGPASS") {
        Some(m.info("authentication required"))
    } else if line.starts_with("-DENIED") {
        Some(m.info("protected mode"))
    } else if line.starts_with("-ERR") && line.contains("redis") {
        Some(m.info(line))
    } else {
        None
    }
}

/// `redis_version` and `redis_mode` from the `# Server` section of an INFO answer.
fn redis_info(data: &[u8]) -> Option<(String, String)> {
    let body = String::from_utf8_lossy(&data[..data.len().min(8192)]);
    let mut lines = body.lines().skip(1);
    if lines.next()?.trim() != "# Server" {
        return None;
    }
    let mut version = None;
    let mut mode = "standalone".to_string();
    for line in lines.take(64) {
        if let Some(v) = line.strip_prefix("redis_version:") {
            version = Some(text::clean_str(v, 40));
        } else if let Some(v) = line.strip_prefix("redis_mode:") {
            mode = text::clean_str(v, 40);
        }
    }
    Some((version?, mode))
}

/// NATS opens with `INFO {json}` naming its version.
pub(super) fn nats(data: &[u8]) -> Option<ServiceMatch> {
    let line = first_line(data);
    let json = line.strip_prefix("INFO {")?;
    if !json.contains("\"server_id\"") {
        return None;
    }
    let version = json
        .split("\"version\":\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default();
    Some(ServiceMatch::new("nats").product("NATS").version(version))
}

/// memcached's answer to `version`.
pub(super) fn memcached(data: &[u8]) -> Option<ServiceMatch> {
    let line = first_line(data);
    let version = line.strip_prefix("VERSION ")?;
    Some(
        ServiceMatch::new("memcached")
            .product("memcached")
            .version(version),
    )
}

/// Telnet: the server opens with IAC option negotiation.
pub(super) fn telnet(data: &[u8]) -> Option<ServiceMatch> {
    if data.len() < 3 || data[0] != 0xff || !(0xfb..=0xfe).contains(&data[1]) {
        return None;
    }
    // Skip negotiation (IAC cmd opt, and IAC SB ... IAC SE) to find any prompt text.
    let mut i = 0;
    while i + 1 < data.len() && data[i] == 0xff {
        if data[i + 1] == 0xfa {
            let end = data[i..].windows(2).position(|w| w == [0xff, 0xf0]);
            i = end.map_or(data.len(), |e| i + e + 2);
        } else {
            i += 3;
        }
    }
    let prompt = text::printable(data.get(i..).unwrap_or(&[]), 80);
    Some(ServiceMatch::new("telnet").info(prompt))
}

/// Greetings starting with 220: SMTP or FTP, told apart by what they say.
pub(super) fn mail_or_ftp(data: &[u8]) -> Option<ServiceMatch> {
    let line = first_line(data);
    let rest = line.strip_prefix("220")?;
    let rest = rest.strip_prefix(['-', ' ']).unwrap_or(rest).trim();
    let upper = rest.to_ascii_uppercase();
    if upper.contains("SMTP")
        || upper.contains("POSTFIX")
        || upper.contains("EXIM")
        || upper.contains("SENDMAIL")
    {
        return Some(smtp(rest));
    }
    Some(ftp(rest))
}

fn smtp(rest: &str) -> ServiceMatch {
    let host = rest.split_whitespace().next().unwrap_or("");
    let words: Vec<&str> = rest.split_whitespace().collect();
    let find = |name: &str| words.iter().position(|w| w.eq_ignore_ascii_case(name));
    let m = ServiceMatch::new("smtp").info(format!("host {host}"));
    if let Some(i) = find("Exim") {
        return m
            .product("Exim")
            .version(words.get(i + 1).copied().unwrap_or(""));
    }
    if find("Postfix").is_some() {
        return m.product("Postfix");
    }
    if let Some(w) = words.iter().find(|w| w.starts_with("Sendmail")) {
        let version = words.iter().skip_while(|x| *x != w).nth(1).unwrap_or(&"");
        return m
            .product("Sendmail")
            .version(version.split('/').next().unwrap_or(""));
    }
    if find("OpenSMTPD").is_some() {
        return m.product("OpenSMTPD");
    }
    // aiosmtpd greets with "Python SMTP <its version>" (the old smtpd module said
    // "Python SMTP proxy version 0.3", which names no version of its own).
    if let Some(i) = words
        .windows(2)
        .position(|w| w[0] == "Python" && w[1] == "SMTP")
        && let Some(v) = words
            .get(i + 2)
            .filter(|v| v.starts_with(|c: char| c.is_ascii_digit()))
    {
        return m.product("aiosmtpd").version(v);
    }
    if rest.contains("Microsoft ESMTP MAIL Service") {
        return m.product("Microsoft ESMTP");
    }
    m
}

fn ftp(rest: &str) -> ServiceMatch {
    let m = ServiceMatch::new("ftp");
    if let Some(inner) = rest.strip_prefix('(').and_then(|r| r.split(')').next()) {
        // vsftpd: "220 (vsFTPd 3.0.3)".
        let (product, version) = inner.split_once(' ').unwrap_or((inner, ""));
        return m.product(product).version(version);
    }
    for (marker, product) in [
        ("ProFTPD", "ProFTPD"),
        ("Pure-FTPd", "Pure-FTPd"),
        ("FileZilla Server", "FileZilla Server"),
    ] {
        if let Some(at) = rest.find(marker) {
            let after = rest[at + marker.len()..].trim_start();
            let version = after
                .split_whitespace()
                .next()
                .filter(|v| v.starts_with(|c: char| c.is_ascii_digit()));
            return m.product(product).version(version.unwrap_or(""));
        }
    }
    if rest.contains("Microsoft FTP Service") {
        return m.product("Microsoft ftpd");
    }
    m.info(rest)
}

/// `+OK` (POP3) and `* OK` / `* PREAUTH` (IMAP).
pub(super) fn pop3_or_imap(data: &[u8]) -> Option<ServiceMatch> {
    let line = first_line(data);
    let product = |text: &str| {
        [
            "Dovecot",
            "Courier",
            "Cyrus",
            "UW IMAP",
            "Zimbra",
            "Microsoft Exchange",
        ]
        .into_iter()
        .find(|p| text.contains(p))
    };
    if let Some(rest) = line.strip_prefix("+OK") {
        let m = ServiceMatch::new("pop3").info(rest.trim());
        return Some(match product(rest) {
            Some(p) => m.product(p),
            None => m,
        });
    }
    let rest = line
        .strip_prefix("* OK")
        .or_else(|| line.strip_prefix("* PREAUTH"))?;
    let m = ServiceMatch::new("imap").info(rest.trim());
    Some(match product(rest) {
        Some(p) => m.product(p),
        None => m,
    })
}

#[cfg(test)]
mod tests {
    use super::super::identify;

    fn id(data: &[u8]) -> (String, Option<String>, Option<String>) {
        let m = identify(data).unwrap_or_else(|| panic!("not identified: {data:?}"));
        (m.service.to_string(), m.product, m.version)
    }

    #[test]
    fn ssh_banners() {
        let m = identify(b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u1\r\n").unwrap();
        assert_eq!(
            m.summary(),
            "ssh OpenSSH 9.2p1 (protocol 2.0; Debian-2+deb12u1)"
        );
        assert_eq!(
            id(b"SSH-2.0-dropbear_2022.83\r\n"),
            (
                "ssh".into(),
                Some("dropbear".into()),
                Some("2022.83".into())
            )
        );
        assert_eq!(id(b"SSH-1.99-Cisco-1.25\r\n").2.as_deref(), Some("1.25"));
    }

    #[test]
    fn aiosmtpd_and_redis_info() {
        assert_eq!(
            identify(b"220 mail.pwo.test Python SMTP 1.4.3\r\n")
                .unwrap()
                .summary(),
            "smtp aiosmtpd 1.4.3 (host mail.pwo.test)"
        );
        assert_eq!(
            id(b"220 h Python SMTP proxy version 0.3\r\n").1,
            None,
            "the old smtpd module names no version"
        );
        let info = b"$585\r\n# Server\r\nredis_version:7.0.15\r\nredis_git_sha1:00000000\r\nredis_mode:standalone\r\n";
        assert_eq!(
            identify(info).unwrap().summary(),
            "redis Redis 7.0.15 (standalone mode, no authentication required)"
        );
        assert_eq!(
            identify(b"-NOAUTH Authentication required.\r\n")
                .unwrap()
                .info
                .as_deref(),
            Some("authentication required")
        );
    }

    #[test]
    fn mail_and_ftp() {
        assert_eq!(
            id(b"220 mx.example.org ESMTP Postfix (Debian/GNU)\r\n")
                .1
                .as_deref(),
            Some("Postfix")
        );
        let exim =
            identify(b"220 mail.example.com ESMTP Exim 4.96 Mon, 01 Jan 2024 00:00:00 +0000\r\n")
                .unwrap();
        assert_eq!(
            (exim.product.as_deref(), exim.version.as_deref()),
            (Some("Exim"), Some("4.96"))
        );
        assert_eq!(exim.info.as_deref(), Some("host mail.example.com"));
        assert_eq!(
            id(b"220 (vsFTPd 3.0.3)\r\n"),
            ("ftp".into(), Some("vsFTPd".into()), Some("3.0.3".into()))
        );
        assert_eq!(
            id(b"220 ProFTPD 1.3.8 Server (Debian) [::ffff:10.0.0.1]\r\n")
                .2
                .as_deref(),
            Some("1.3.8")
        );
        assert_eq!(
            id(b"220-FileZilla Server 1.7.0\r\n220 Please visit\r\n")
                .1
                .as_deref(),
            Some("FileZilla Server")
        );
        assert_eq!(
            id(b"+OK Dovecot (Debian) ready.\r\n"),
            ("pop3".into(), Some("Dovecot".into()), None)
        );
        assert_eq!(
            id(b"* OK [CAPABILITY IMAP4rev1 SASL-IR] Dovecot ready.\r\n").0,
            "imap"
        );
    }

    #[test]
    fn small_text_services() {
        assert_eq!(
            identify(b"RFB 003.008\n").unwrap().info.as_deref(),
            Some("protocol 3.8")
        );
        assert_eq!(id(b"+PONG\r\n").0, "redis");
        assert_eq!(
            identify(b"-NOAUTH Authentication required.\r\n")
                .unwrap()
                .info
                .as_deref(),
            Some("authentication required")
        );
        assert_eq!(
            identify(b"-DENIED Redis is running in protected mode\r\n")
                .unwrap()
                .service,
            "redis"
        );
        assert_eq!(id(b"VERSION 1.6.21\r\n").2.as_deref(), Some("1.6.21"));
        let t = identify(b"\xff\xfd\x18\xff\xfd\x20\xff\xfa\x18\x01\xff\xf0login: ").unwrap();
        assert_eq!((t.service, t.info.as_deref()), ("telnet", Some("login:")));
        assert_eq!(identify(b"\x1b[31mhello"), None);
    }
}
