//! Golden files in `tests/golden/`: output that must stay byte-identical across refactoring.
//! A mismatch fails with the first differing lines; an intended change is written with
//! `scripts/golden --update` (which sets `KLAXON_GOLDEN_UPDATE=1`), and its diff is reviewed in
//! the same commit.

use std::path::PathBuf;

pub fn check(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/golden")
        .join(name);
    if std::env::var_os("KLAXON_GOLDEN_UPDATE").is_some_and(|v| v == "1") {
        std::fs::write(&path, actual).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (write it with scripts/golden --update)",
            path.display()
        )
    });
    if expected == actual {
        return;
    }
    let differences: Vec<String> = expected
        .lines()
        .map(Some)
        .chain(std::iter::repeat(None))
        .zip(actual.lines().map(Some).chain(std::iter::repeat(None)))
        .take_while(|(e, a)| e.is_some() || a.is_some())
        .enumerate()
        .filter(|(_, (e, a))| e != a)
        .take(10)
        .map(|(i, (e, a))| {
            format!(
                "line {}:\n  - golden: {}\n  + now:    {}",
                i + 1,
                e.unwrap_or("(none)"),
                a.unwrap_or("(none)")
            )
        })
        .collect();
    panic!(
        "{} differs from what the code gives now (an intended change: scripts/golden --update, and review the diff):\n{}",
        path.display(),
        differences.join("\n")
    );
}
