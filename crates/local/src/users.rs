//! User names from `/etc/passwd`.

use std::collections::HashMap;

/// Maps user ids to names from the text of a passwd file (malformed lines are skipped; the
/// first name of a uid wins, as `getpwuid` would give).
pub fn parse_passwd(text: &str) -> HashMap<u32, String> {
    let mut users = HashMap::new();
    for line in text.lines() {
        let mut fields = line.split(':');
        let (Some(name), Some(_password), Some(uid)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        if name.is_empty() || name.starts_with('#') {
            continue;
        }
        if let Ok(uid) = uid.trim().parse::<u32>() {
            users.entry(uid).or_insert_with(|| name.to_string());
        }
    }
    users
}

/// The user names of this machine (empty when `/etc/passwd` is unreadable).
pub fn load() -> HashMap<u32, String> {
    std::fs::read_to_string("/etc/passwd")
        .map(|t| parse_passwd(&t))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_skips_junk() {
        let users = parse_passwd(
            "root:x:0:0:root:/root:/bin/bash\n\
             # comment\n\
             broken line\n\
             postgres:x:105:111::/var/lib/postgresql:/bin/bash\n\
             toor:x:0:0::/:/bin/sh\n",
        );
        assert_eq!(users.get(&0).map(String::as_str), Some("root"));
        assert_eq!(users.get(&105).map(String::as_str), Some("postgres"));
        assert_eq!(users.len(), 2);
    }
}
