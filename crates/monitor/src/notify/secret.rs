//! Secret values of a `[[notify]]` table given by reference instead of inline, so the
//! configuration file itself holds no secret:
//!
//! - `{ credential = "NAME" }` reads `$CREDENTIALS_DIRECTORY/NAME`, the file systemd makes
//!   for `LoadCredential=NAME:/path` (or `SetCredential=`, `ImportCredential=`);
//! - `{ file = "/absolute/path" }` reads that file.
//!
//! A reference is resolved when the configuration is loaded (at start and on every reload):
//! the value is the file's text without its trailing line break. A missing credentials
//! directory, an unreadable or empty file, or a table of another shape is an error naming
//! the key and the path. Every key that carries a secret takes a reference: the URLs of the
//! webhook-style notifiers, `secret`, header values, `bot_token`, `token`, `routing_key`,
//! `smtp` and `password`.

use serde::de::{self, Deserializer, MapAccess, Visitor};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// The environment variable systemd sets to the directory of the unit's credentials.
pub const CREDENTIALS_DIRECTORY: &str = "CREDENTIALS_DIRECTORY";

/// A value as written: inline, or where to read it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Written {
    Inline(String),
    Credential(String),
    File(PathBuf),
}

struct WrittenVisitor;

impl<'de> Visitor<'de> for WrittenVisitor {
    type Value = Written;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string, { credential = \"NAME\" } or { file = \"/path\" }")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Written, E> {
        Ok(Written::Inline(v.to_string()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Written, E> {
        Ok(Written::Inline(v))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Written, A::Error> {
        let mut found: Option<Written> = None;
        while let Some(key) = map.next_key::<String>()? {
            let value: String = map.next_value()?;
            let this = match key.as_str() {
                "credential" => Written::Credential(value),
                "file" => Written::File(PathBuf::from(value)),
                other => {
                    return Err(de::Error::custom(format!(
                        "unknown key `{other}` in a reference; write {{ credential = \"NAME\" }} or {{ file = \"/path\" }}"
                    )));
                }
            };
            if found.replace(this).is_some() {
                return Err(de::Error::custom(
                    "a reference is either { credential = \"NAME\" } or { file = \"/path\" }, not both",
                ));
            }
        }
        found.ok_or_else(|| {
            de::Error::custom(
                "an empty table; write { credential = \"NAME\" } or { file = \"/path\" }",
            )
        })
    }
}

fn written<'de, D: Deserializer<'de>>(d: D) -> Result<Written, D::Error> {
    d.deserialize_any(WrittenVisitor)
}

/// The value of `key`, read from where it points; errors name the key and the path.
fn resolve(key: &str, w: Written) -> Result<String, String> {
    match w {
        Written::Inline(v) => Ok(v),
        Written::Credential(name) => {
            if name.is_empty() || name == "." || name == ".." || name.contains('/') {
                return Err(format!(
                    "{key}: credential \"{name}\" is not a credential name (a file name, without '/')"
                ));
            }
            let dir = std::env::var_os(CREDENTIALS_DIRECTORY)
                .filter(|d| !d.is_empty())
                .ok_or_else(|| {
                    format!(
                        "{key}: credential \"{name}\": ${CREDENTIALS_DIRECTORY} is not set \
                         (systemd sets it for a unit with LoadCredential={name}:/path/to/file; \
                         elsewhere write {{ file = \"/path/to/file\" }})"
                    )
                })?;
            read(
                key,
                &Path::new(&dir).join(&name),
                &format!("credential \"{name}\" at "),
            )
        }
        Written::File(path) => {
            if !path.is_absolute() {
                return Err(format!(
                    "{key}: file \"{}\" is not an absolute path",
                    path.display()
                ));
            }
            read(key, &path, "")
        }
    }
}

fn read(key: &str, path: &Path, what: &str) -> Result<String, String> {
    let shown = path.display();
    let bytes =
        std::fs::read(path).map_err(|e| format!("{key}: cannot read {what}{shown}: {e}"))?;
    let text =
        String::from_utf8(bytes).map_err(|_| format!("{key}: {what}{shown} is not UTF-8 text"))?;
    let value = text.strip_suffix('\n').unwrap_or(&text);
    let value = value.strip_suffix('\r').unwrap_or(value);
    if value.trim().is_empty() {
        return Err(format!("{key}: {what}{shown} is empty"));
    }
    Ok(value.to_string())
}

fn required<'de, D: Deserializer<'de>>(key: &str, d: D) -> Result<String, D::Error> {
    resolve(key, written(d)?).map_err(de::Error::custom)
}

/// An optional key: absent or none (as the configuration loader's second pass writes it) is
/// `None`, anything else a value as for a required key.
fn optional<'de, D: Deserializer<'de>>(
    key: &'static str,
    d: D,
) -> Result<Option<String>, D::Error> {
    struct OptionalVisitor(&'static str);
    impl<'de> Visitor<'de> for OptionalVisitor {
        type Value = Option<String>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            WrittenVisitor.expecting(f)
        }
        fn visit_none<E: de::Error>(self) -> Result<Option<String>, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Option<String>, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<String>, D::Error> {
            required(self.0, d).map(Some)
        }
    }
    d.deserialize_option(OptionalVisitor(key))
}

// One `deserialize_with` function per key, so errors name the key.

/// `url`.
pub(crate) fn url<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    required("url", d)
}

/// `bot_token`.
pub(crate) fn bot_token<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    required("bot_token", d)
}

/// `routing_key`.
pub(crate) fn routing_key<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    required("routing_key", d)
}

/// `smtp`.
pub(crate) fn smtp<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    required("smtp", d)
}

/// `secret` (optional).
pub(crate) fn secret<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    optional("secret", d)
}

/// `token` (optional).
pub(crate) fn token<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    optional("token", d)
}

/// `password` (optional).
pub(crate) fn password<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    optional("password", d)
}

/// `headers`: each value inline or by reference.
pub(crate) fn headers<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    struct HeadersVisitor;
    impl<'de> Visitor<'de> for HeadersVisitor {
        type Value = BTreeMap<String, String>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a table of header names and values")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some(name) = map.next_key::<String>()? {
                let value = map.next_value_seed(WrittenSeed)?;
                let value =
                    resolve(&format!("headers.{name}"), value).map_err(de::Error::custom)?;
                out.insert(name, value);
            }
            Ok(out)
        }
    }
    d.deserialize_map(HeadersVisitor)
}

struct WrittenSeed;

impl<'de> de::DeserializeSeed<'de> for WrittenSeed {
    type Value = Written;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Written, D::Error> {
        written(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_loses_its_trailing_line_break_only() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pw");
        std::fs::write(&p, " s3cret \r\n").unwrap();
        assert_eq!(
            resolve("smtp", Written::File(p.clone())).unwrap(),
            " s3cret "
        );
        std::fs::write(&p, "\n").unwrap();
        let e = resolve("smtp", Written::File(p.clone())).unwrap_err();
        assert!(e.starts_with("smtp: ") && e.ends_with("is empty"), "{e}");
        let e = resolve("token", Written::File("pw".into())).unwrap_err();
        assert_eq!(e, "token: file \"pw\" is not an absolute path");
        let e = resolve("token", Written::Credential("../x".into())).unwrap_err();
        assert!(e.contains("not a credential name"), "{e}");
    }
}
