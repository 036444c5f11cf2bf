//! Embeds every `pages/*.toml` risk page into the library.
//!
//! Writes `$OUT_DIR/pages.rs` with one `(file name, include_str!(..))` entry per page, sorted by
//! file name, so adding a page needs no code change. Parsing and validation happen in the library
//! (and its tests), not here: a half-written page must not break the build of the whole workspace.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

fn main() {
    let manifest_dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let pages_dir = manifest_dir.join("pages");
    println!("cargo:rerun-if-changed={}", pages_dir.display());

    let mut files = page_files(&pages_dir);
    files.sort();

    let mut out =
        String::from("/// Every embedded page: (file name, TOML text), sorted by file name.\n");
    out.push_str("pub(crate) static PAGE_SOURCES: &[(&str, &str)] = &[\n");
    for path in &files {
        println!("cargo:rerun-if-changed={}", path.display());
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        writeln!(
            out,
            "    ({name:?}, include_str!({:?})),",
            path.display().to_string()
        )
        .expect("writing to a String cannot fail");
    }
    out.push_str("];\n");

    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::write(out_dir.join("pages.rs"), out).expect("write $OUT_DIR/pages.rs");
}

/// The `*.toml` files directly inside `dir` (none when the directory is missing).
fn page_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.is_file() && path.extension().is_some_and(|ext| ext == "toml"))
        .filter(|path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| !n.starts_with('.'))
        })
        .collect()
}
