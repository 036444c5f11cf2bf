//! The one CSV reader (RFC 4180), for the files portwatch reads: the IEEE registry of MAC
//! blocks ([`crate::discover::vendor`]) and portwatch's own `--format csv` output (the
//! monitor's diff).
//!
//! Commas separate fields and line breaks (LF or CRLF) separate records. A field that starts
//! with a double quote is quoted: inside it commas and line breaks are text and a doubled
//! quote is one quote. A quote anywhere else is text, and a carriage return outside quotes is
//! dropped. Empty lines are no records. Any text gives records; nothing here fails or panics.

use std::iter::Peekable;
use std::str::Chars;

/// The records of `text`, each a list of its fields, read as they are asked for.
pub fn records(text: &str) -> Records<'_> {
    Records {
        chars: text.chars().peekable(),
    }
}

/// The iterator [`records`] returns.
#[derive(Debug, Clone)]
pub struct Records<'a> {
    chars: Peekable<Chars<'a>>,
}

impl Iterator for Records<'_> {
    type Item = Vec<String>;

    fn next(&mut self) -> Option<Vec<String>> {
        loop {
            let (row, more) = self.record()?;
            // An empty line (one empty field, unquoted) is no record.
            if row.len() > 1 || !row[0].is_empty() {
                return Some(row);
            }
            if !more {
                return None;
            }
        }
    }
}

impl Records<'_> {
    /// The fields up to the next line break outside quotes, and whether one was found (more
    /// text may follow); `None` once the text is used up.
    fn record(&mut self) -> Option<(Vec<String>, bool)> {
        self.chars.peek()?;
        let mut row = Vec::new();
        let mut field = String::new();
        let mut quoted = false;
        while let Some(c) = self.chars.next() {
            match (c, quoted) {
                ('"', true) if self.chars.peek() == Some(&'"') => {
                    self.chars.next();
                    field.push('"');
                }
                ('"', true) => quoted = false,
                ('"', false) if field.is_empty() => quoted = true,
                (',', false) => row.push(std::mem::take(&mut field)),
                ('\r', false) => {}
                ('\n', false) => {
                    row.push(field);
                    return Some((row, true));
                }
                (c, _) => field.push(c),
            }
        }
        row.push(field);
        Some((row, false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Vec<Vec<String>> {
        records(text).collect()
    }

    fn row(fields: &[&str]) -> Vec<String> {
        fields
            .iter()
            .map(std::string::ToString::to_string)
            .collect()
    }

    #[test]
    fn quoted_fields_hold_commas_quotes_and_line_breaks() {
        let text = "a,\"b, c\",\"say \"\"hi\"\"\"\r\n\"two\r\nlines\",,x\n";
        assert_eq!(
            read(text),
            [
                row(&["a", "b, c", "say \"hi\""]),
                row(&["two\r\nlines", "", "x"])
            ]
        );
    }

    #[test]
    fn empty_lines_are_skipped_and_the_last_line_needs_no_break() {
        assert_eq!(read("\n\r\na,b\n\n\nc"), [row(&["a", "b"]), row(&["c"])]);
        assert_eq!(read("a,\n"), [row(&["a", ""])]);
        assert!(read("").is_empty());
        assert!(read("\n\n").is_empty());
    }

    #[test]
    fn a_quote_inside_an_unquoted_field_is_text() {
        assert_eq!(read("ab\"c,\"d\"e\n"), [row(&["ab\"c", "de"])]);
    }

    #[test]
    fn an_unclosed_quote_runs_to_the_end() {
        assert_eq!(read("a,\"b,c\nd"), [row(&["a", "b,c\nd"])]);
    }
}
