//! Where in the file a value error is: `validate` names the key it rejects (`keep`,
//! `group "web" policy.must_be_closed`, `notify "ops"`…); this finds that key in the text so
//! the message carries a line and column, as syntax errors do.

use toml_edit::{Document, Item, TableLike};

/// The byte offset of the value `key` names (of the list element `message` quotes, when the
/// value is a list), or `None` when the key is not written in the text (a default, an
/// environment override).
pub(super) fn offset_of(text: &str, key: &str, message: &str) -> Option<usize> {
    let doc = Document::parse(text).ok()?;
    let root: &dyn TableLike = doc.as_table();
    let (table, path, mut offset) = named_table(root, key).unwrap_or((root, key, None));
    let mut tables = Some(table);
    let mut value: Option<&Item> = None;
    for segment in path.split('.').filter(|s| !s.is_empty()) {
        let Some((k, v)) = tables.and_then(|t| t.get_key_value(segment)) else {
            break;
        };
        offset = v.span().or(k.span()).map(|s| s.start).or(offset);
        tables = v.as_table_like();
        value = Some(v);
    }
    if let Some(array) = value.and_then(Item::as_array) {
        let quoted =
            |s: &str| message.contains(&format!("'{s}'")) || message.contains(&format!("\"{s}\""));
        if let Some(element) = array.iter().find(|v| v.as_str().is_some_and(quoted)) {
            offset = element.span().map(|s| s.start).or(offset);
        }
    }
    offset
}

/// For keys like `group "web" ports`: the `[[group]]` table whose `name` is `web` (the last
/// one: a "used twice" error is about the second), the rest of the key, and where the name
/// is written.
fn named_table<'a, 'k>(
    root: &'a dyn TableLike,
    key: &'k str,
) -> Option<(&'a dyn TableLike, &'k str, Option<usize>)> {
    let (array, rest) = key.split_once(" \"")?;
    let (name, rest) = rest.split_once('"')?;
    let table = root
        .get(array)?
        .as_array_of_tables()?
        .iter()
        .filter(|t| t.get("name").and_then(Item::as_str) == Some(name))
        .last()?;
    let name_at = table.get("name").and_then(Item::span).map(|s| s.start);
    Some((table, rest.trim_start(), name_at))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "keep = \"90x\"\n\n[[group]]\nname = \"a\"\ntargets = [\"10.0.0.1\"]\n\n[[group]]\nname = \"web\"\ntargets = [\"10.0.0.2\", \"10.0.0.300\"]\n[group.policy]\nmust_be_closed = [\"22\"]\n";

    fn at(key: &str, message: &str) -> Option<(usize, usize)> {
        offset_of(TEXT, key, message).map(|o| super::super::line_col(TEXT, o))
    }

    #[test]
    fn keys_are_found_where_they_are_written() {
        assert_eq!(at("keep", "bad"), Some((1, 8)));
        assert_eq!(at("group \"web\"", "used twice"), Some((8, 8)));
        assert_eq!(
            at("group \"web\" targets", "'10.0.0.300' is not an address"),
            Some((9, 24))
        );
        assert_eq!(
            at("group \"web\" policy.must_be_closed", "x"),
            Some((11, 18))
        );
        assert_eq!(at("defaults.every", "x"), None);
    }
}
