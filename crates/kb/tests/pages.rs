//! The embedded risk pages follow the schema and agree with each other.

use portwatch_kb::pages;

#[test]
fn every_page_parses_and_validates() {
    let problems = pages::validate();
    assert!(
        problems.is_empty(),
        "{} page problem(s):\n{}",
        problems.len(),
        problems
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(pages::all().len(), pages::sources().len());
}

#[test]
fn at_least_100_pages() {
    let count = pages::sources().len();
    assert!(
        count >= 100,
        "only {count} pages so far; the knowledge base needs at least 100"
    );
}

#[test]
fn the_model_pages_exist() {
    for file in ["00137.toml", "00138.toml", "00139.toml", "00445.toml"] {
        assert!(
            pages::sources().iter().any(|(name, _)| *name == file),
            "{file} is missing"
        );
    }
}
