//! Text for people: wrapped paragraphs and styles that vanish when output is not a terminal
//! (anstream strips them).

use anstyle::{AnsiColor, Style};
use std::io::{self, Write};

/// The styles the CLI uses.
pub struct Styles {
    /// Titles.
    pub bold: Style,
    /// Section headings.
    pub heading: Style,
    /// Low severity.
    pub good: Style,
    /// Medium severity.
    pub warn: Style,
    /// High and critical severity.
    pub bad: Style,
    /// Comments.
    pub dim: Style,
}

impl Default for Styles {
    fn default() -> Self {
        Styles {
            bold: Style::new().bold(),
            heading: Style::new().bold().fg_color(Some(AnsiColor::Cyan.into())),
            good: Style::new().fg_color(Some(AnsiColor::Green.into())),
            warn: Style::new().fg_color(Some(AnsiColor::Yellow.into())),
            bad: Style::new().bold().fg_color(Some(AnsiColor::Red.into())),
            dim: Style::new().dimmed(),
        }
    }
}

/// A section heading.
pub fn heading(out: &mut impl Write, title: &str, st: &Styles) -> io::Result<()> {
    writeln!(out, "\n{h}{title}{h:#}", h = st.heading)
}

/// A paragraph wrapped to the terminal width (80 columns when not a terminal), indented.
pub fn paragraph(out: &mut impl Write, text: &str) -> io::Result<()> {
    let width = textwrap::termwidth().clamp(40, 100);
    let opts = textwrap::Options::new(width)
        .initial_indent("  ")
        .subsequent_indent("  ");
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    for line in textwrap::wrap(&flat, opts) {
        writeln!(out, "{line}")?;
    }
    Ok(())
}
