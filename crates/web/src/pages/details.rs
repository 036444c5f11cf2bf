//! What probes learned about a port (a span's `details`), as short labelled facts: NetBIOS
//! names, SMB dialects and signing, banners. Unknown keys are shown as compact JSON.

use portwatch_store::Details;
use serde_json::Value;

/// The longest value shown; longer ones are cut with an ellipsis.
const MAX_VALUE: usize = 300;

/// One labelled fact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fact {
    /// What it is, e.g. `SMB dialects`.
    pub label: String,
    /// Its value as text.
    pub value: String,
}

fn text(v: &Value) -> String {
    let s = match v {
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(text).collect::<Vec<_>>().join(", "),
        Value::Bool(true) => "yes".into(),
        Value::Bool(false) => "no".into(),
        other => other.to_string(),
    };
    if s.chars().count() > MAX_VALUE {
        let cut: String = s.chars().take(MAX_VALUE).collect();
        format!("{cut}…")
    } else {
        s
    }
}

fn push(out: &mut Vec<Fact>, label: &str, v: Option<&Value>) {
    if let Some(v) = v.filter(|v| !v.is_null()) {
        let value = text(v);
        if !value.is_empty() {
            out.push(Fact {
                label: label.into(),
                value,
            });
        }
    }
}

/// NetBIOS names as `NAME<20> (group)`.
fn netbios_names(v: Option<&Value>) -> Option<Value> {
    let names = v?.as_array()?;
    let list: Vec<String> = names
        .iter()
        .filter_map(|n| {
            let name = n.get("name")?.as_str()?.trim_end();
            let suffix = n.get("suffix").and_then(Value::as_str).unwrap_or("");
            let group = n.get("group").and_then(Value::as_bool).unwrap_or(false);
            let service = n.get("service").and_then(Value::as_str);
            let mut s = format!("{name}{suffix}");
            match (group, service) {
                (true, Some(sv)) => s.push_str(&format!(" (group, {sv})")),
                (true, None) => s.push_str(" (group)"),
                (false, Some(sv)) => s.push_str(&format!(" ({sv})")),
                (false, None) => {}
            }
            Some(s)
        })
        .collect();
    (!list.is_empty()).then(|| Value::String(list.join(", ")))
}

/// The facts of a span's details, most useful first.
pub fn facts(details: &Details) -> Vec<Fact> {
    let mut out = Vec::new();
    for (key, value) in details {
        match (key.as_str(), value) {
            ("netbios", Value::Object(nb)) => {
                push(&mut out, "NetBIOS name", nb.get("name"));
                push(&mut out, "Workgroup", nb.get("workgroup"));
                push(&mut out, "Logged-on user", nb.get("user"));
                push(&mut out, "Roles", nb.get("roles"));
                push(
                    &mut out,
                    "NetBIOS names",
                    netbios_names(nb.get("names")).as_ref(),
                );
                push(&mut out, "MAC", nb.get("mac"));
                push(&mut out, "Called name", nb.get("called_name"));
                push(&mut out, "NetBIOS session", nb.get("session"));
            }
            ("smb", Value::Object(smb)) => {
                push(&mut out, "SMB dialects", smb.get("dialects"));
                push(&mut out, "SMB1", smb.get("smb1"));
                push(&mut out, "Signing", smb.get("signing"));
                push(&mut out, "SMB1 signing", smb.get("smb1_signing"));
                push(&mut out, "Highest dialect", smb.get("max_dialect"));
                push(&mut out, "Domain", smb.get("domain"));
                push(&mut out, "Server", smb.get("server"));
            }
            ("banner", Value::Object(b)) => {
                let product = [b.get("product"), b.get("version"), b.get("info")]
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(" ");
                // A binary answer (`escaped`, see `portwatch_proto::banner::view`) is shown
                // by its decoded facts; its escaped bytes only when nothing was decoded.
                let shown = match b.get("text") {
                    Some(text) => Some(text),
                    None if product.is_empty() => b.get("escaped"),
                    None => None,
                };
                if !product.is_empty() {
                    push(&mut out, "Software", Some(&Value::String(product)));
                }
                push(&mut out, "Banner", shown);
            }
            (other, v) => {
                let compact = match v {
                    Value::Object(_) => v.to_string(),
                    _ => text(v),
                };
                push(&mut out, other, Some(&Value::String(compact)));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn netbios_smb_and_banner_read_as_facts() {
        let d = json!({
            "netbios": {"name": "FILESRV01", "workgroup": "CORP", "names": [
                {"name": "FILESRV01      ", "suffix": "<20>", "group": false, "service": "file server"},
                {"name": "CORP", "suffix": "<00>", "group": true}]},
            "smb": {"dialects": ["NT LM 0.12", "3.1.1"], "smb1": true, "signing": "enabled-not-required"},
            "banner": {"text": "SSH-2.0-OpenSSH_9.2p1", "product": "OpenSSH", "version": "9.2p1"}
        });
        let f = facts(d.as_object().unwrap());
        let get = |l: &str| f.iter().find(|x| x.label == l).map(|x| x.value.clone());
        assert_eq!(get("NetBIOS name").as_deref(), Some("FILESRV01"));
        assert_eq!(
            get("NetBIOS names").as_deref(),
            Some("FILESRV01<20> (file server), CORP<00> (group)")
        );
        assert_eq!(get("SMB dialects").as_deref(), Some("NT LM 0.12, 3.1.1"));
        assert_eq!(get("SMB1").as_deref(), Some("yes"));
        assert_eq!(get("Signing").as_deref(), Some("enabled-not-required"));
        assert_eq!(get("Software").as_deref(), Some("OpenSSH 9.2p1"));
        assert_eq!(get("Banner").as_deref(), Some("SSH-2.0-OpenSSH_9.2p1"));
    }

    #[test]
    fn binary_banners_show_their_facts_or_escaped_bytes() {
        let d = json!({"banner": {"escaped": "d\\0\\0\\0\\n5.5.5-10.11.19-MariaDB\\0", "product": "MariaDB",
            "version": "10.11.19"}});
        let f = facts(d.as_object().unwrap());
        assert_eq!(
            f,
            vec![Fact {
                label: "Software".into(),
                value: "MariaDB 10.11.19".into()
            }]
        );
        let d = json!({"banner": {"escaped": "\\x01\\x02hi"}});
        let f = facts(d.as_object().unwrap());
        assert_eq!(f[0].label, "Banner");
        assert_eq!(f[0].value, "\\x01\\x02hi");
    }
}
