//! The SQL Server Browser service (MC-SQLR) on UDP 1434.

use crate::error::{ProtoError, Result};
use crate::reader::Reader;
use crate::text;

/// Most instances decoded from one answer.
const MAX_INSTANCES: usize = 64;

/// CLNT_BCAST_EX: asks for every instance on the host (one byte, 0x02).
pub fn instances_request() -> Vec<u8> {
    vec![0x02]
}

/// One SQL Server instance as the browser describes it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SqlInstance {
    /// Host name.
    pub server_name: String,
    /// Instance name (MSSQLSERVER for the default instance).
    pub instance_name: String,
    /// Whether the instance is clustered.
    pub clustered: bool,
    /// Product version, e.g. 15.0.2000.5.
    pub version: String,
    /// TCP port, when the instance listens on TCP.
    pub tcp_port: Option<u16>,
    /// Named pipe, when offered.
    pub named_pipe: Option<String>,
}

/// A parsed SVR_RESP message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct MssqlBrowserAnswer {
    /// The instances listed.
    pub instances: Vec<SqlInstance>,
}

impl MssqlBrowserAnswer {
    /// Parses SVR_RESP: 0x05, a 16-bit little-endian size, then `key;value;` text per instance, instances ended by `;;`.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        const WHAT: &str = "SQL browser response";
        let mut r = Reader::new(bytes);
        let kind = r.u8(WHAT)?;
        if kind != 0x05 {
            return Err(ProtoError::unexpected(
                WHAT,
                format!("type {kind:#04x}, expected 0x05"),
            ));
        }
        let size = usize::from(r.u16_le(WHAT)?);
        let data = r.rest().get(..size).unwrap_or(r.rest());
        let body = String::from_utf8_lossy(data);
        let mut instances = Vec::new();
        for chunk in body
            .split(";;")
            .filter(|c| !c.trim().is_empty())
            .take(MAX_INSTANCES)
        {
            let mut inst = SqlInstance::default();
            let mut parts = chunk.split(';');
            while let (Some(key), Some(value)) = (parts.next(), parts.next()) {
                let value = text::clean_str(value, text::MAX_TEXT);
                match key.trim().to_ascii_lowercase().as_str() {
                    "servername" => inst.server_name = value,
                    "instancename" => inst.instance_name = value,
                    "isclustered" => inst.clustered = value.eq_ignore_ascii_case("yes"),
                    "version" => inst.version = value,
                    "tcp" => inst.tcp_port = value.parse().ok(),
                    "np" => inst.named_pipe = Some(value),
                    _ => {}
                }
            }
            if !inst.instance_name.is_empty() || !inst.server_name.is_empty() {
                instances.push(inst);
            }
        }
        if instances.is_empty() {
            return Err(ProtoError::malformed(WHAT, "no instance listed"));
        }
        Ok(Self { instances })
    }

    /// One readable line.
    pub fn summary(&self) -> String {
        let list: Vec<String> = self
            .instances
            .iter()
            .map(|i| {
                let port = i.tcp_port.map(|p| format!(" tcp/{p}")).unwrap_or_default();
                format!("{}\\{} {}{port}", i.server_name, i.instance_name, i.version)
            })
            .collect();
        format!("SQL Server browser: {}", list.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_two_instances() {
        let text = b"ServerName;DB1;InstanceName;MSSQLSERVER;IsClustered;No;Version;15.0.2000.5;tcp;1433;;\
ServerName;DB1;InstanceName;SQLEXPRESS;IsClustered;No;Version;16.0.1000.6;np;\\\\DB1\\pipe\\MSSQL$SQLEXPRESS\\sql\\query;;";
        let mut b = vec![0x05];
        b.extend_from_slice(&(text.len() as u16).to_le_bytes());
        b.extend_from_slice(text);
        let a = MssqlBrowserAnswer::parse(&b).unwrap();
        assert_eq!(a.instances.len(), 2);
        assert_eq!(a.instances[0].tcp_port, Some(1433));
        assert_eq!(a.instances[1].tcp_port, None);
        assert!(
            a.instances[1]
                .named_pipe
                .as_deref()
                .unwrap()
                .contains("pipe")
        );
        assert_eq!(
            a.summary(),
            "SQL Server browser: DB1\\MSSQLSERVER 15.0.2000.5 tcp/1433, DB1\\SQLEXPRESS 16.0.1000.6"
        );
        assert!(MssqlBrowserAnswer::parse(&[0x05, 0, 0]).is_err());
        assert_eq!(instances_request(), [2]);
    }
}
