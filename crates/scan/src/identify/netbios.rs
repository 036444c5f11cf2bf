//! 139/tcp: open a NetBIOS session (called name `*SMBSERVER`, or the name NBSTAT reports when
//! the server wants its own), then negotiate SMB inside it; and NBSTAT queries over 137/udp.

use super::smb::{self, Carrier};
use super::{Budget, Identity};
use portwatch_proto::netbios::nbstat::{self, NodeStatus};
use portwatch_proto::netbios::session::SMBSERVER;
use serde_json::{Map, Value, json};
use std::net::{IpAddr, SocketAddr};

/// Asks the host's name service for its name table (NBSTAT over 137/udp).
pub async fn query_node_status(ip: IpAddr, budget: Budget) -> Option<NodeStatus> {
    let socket = tokio::net::UdpSocket::bind(if ip.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" })
        .await
        .ok()?;
    socket.connect(SocketAddr::new(ip, 137)).await.ok()?;
    let id = (std::process::id() as u16) ^ 0x5057;
    socket.send(&nbstat::node_status_request(id)).await.ok()?;
    let mut buf = [0u8; 2048];
    let n = tokio::time::timeout(budget.exchange, socket.recv(&mut buf))
        .await
        .ok()?
        .ok()?;
    NodeStatus::parse(&buf[..n]).ok()
}

/// NBSTAT facts as `details.netbios` and a readable line.
pub fn describe(status: &NodeStatus) -> (Value, String) {
    let mut nb = Map::new();
    if let Some(name) = status.computer_name() {
        nb.insert("name".into(), json!(name));
    }
    if let Some(wg) = status.workgroup() {
        nb.insert("workgroup".into(), json!(wg));
    }
    if let Some(user) = status.user() {
        nb.insert("user".into(), json!(user));
    }
    if let Some(mac) = status.mac_string() {
        nb.insert("mac".into(), json!(mac));
    }
    nb.insert("roles".into(), json!(status.roles()));
    nb.insert("file_server".into(), json!(status.is_file_server()));
    nb.insert(
        "domain_controller".into(),
        json!(status.is_domain_controller()),
    );
    nb.insert(
        "names".into(),
        Value::Array(
            status
                .names
                .iter()
                .map(|n| {
                    json!({
                        "name": n.name,
                        "suffix": format!("<{:02x}>", n.suffix),
                        "group": n.group,
                        "active": n.active,
                        "service": n.service(),
                    })
                })
                .collect(),
        ),
    );
    if status.statistics_truncated {
        nb.insert("statistics_truncated".into(), json!(true));
    }
    (Value::Object(nb), status.summary())
}

/// Identifies 139/tcp: the NetBIOS session and the SMB inside it, plus the NBSTAT name.
pub async fn identify_session(addr: SocketAddr, budget: Budget) -> Identity {
    let names = query_node_status(addr.ip(), budget);
    let smbserver = Carrier::Session(SMBSERVER.to_string());
    let first = smb::open(addr, &smbserver, budget);
    let (status, first) = futures::join!(names, first);
    let mut called = SMBSERVER.to_string();
    let mut session: Result<(), String> = first.map(drop);
    if session.is_err()
        && let Some(name) = status.as_ref().and_then(|s| s.computer_name())
    {
        called = name.to_string();
        session = smb::open(addr, &Carrier::Session(called.clone()), budget)
            .await
            .map(drop);
    }
    let mut id = Identity::default();
    let mut netbios = match &status {
        Some(s) => match describe(s).0 {
            Value::Object(m) => m,
            _ => Map::new(),
        },
        None => Map::new(),
    };
    netbios.insert("called_name".into(), json!(called));
    let mut line = Vec::new();
    match &session {
        Ok(()) => {
            netbios.insert("session".into(), json!("accepted"));
            let facts = smb::negotiate_all(addr, &Carrier::Session(called), budget).await;
            let (smb, smb_line) = smb::describe(&facts);
            if let Some(smb) = smb {
                id.details.insert("smb".into(), smb);
            }
            if !smb_line.is_empty() {
                line.push(smb_line);
            }
        }
        Err(why) => {
            netbios.insert("session".into(), json!(why));
            line.push(format!("NetBIOS session refused ({why})"));
        }
    }
    if let Some(s) = &status {
        line.insert(0, s.summary());
    }
    id.details.insert("netbios".into(), Value::Object(netbios));
    id.with_summary(line.join("; "))
}
