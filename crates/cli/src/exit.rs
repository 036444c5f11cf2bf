//! Exit codes, one meaning each, shared by every command.

use std::process::ExitCode;

/// Success (and, for `check`, compliant).
pub const OK: u8 = 0;
/// Findings: policy violations (`check`) or differences (`diff`).
pub const FINDINGS: u8 = 1;
/// Bad input or an error that stopped the command.
pub const USAGE: u8 = 2;
/// Stopped by Ctrl-C (SIGINT) after writing what was found: 128 + 2, as shells report it.
pub const INTERRUPTED: u8 = 130;

/// Prints an error as one line (with its causes) and returns the error exit code.
pub fn report(e: &anyhow::Error) -> ExitCode {
    if is_broken_pipe(e) {
        return ExitCode::from(OK);
    }
    let mut line = format!("portwatch: error: {e}");
    for cause in e.chain().skip(1) {
        let text = cause.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
    }
    eprintln!("{line}");
    ExitCode::from(USAGE)
}

/// Whether the error is only the reader of our output going away (`portwatch … | head`).
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
