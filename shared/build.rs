//! Embeds the shipped runbooks (`runbooks/*.yaml` at the workspace root) into the library,
//! so that a Lambda binary carries them and validates them at cold start. Each is embedded
//! as its YAML and, when that parses, as JSON too: deserializing JSON is far cheaper than
//! parsing YAML, and a cold start pays for every runbook.

use std::path::Path;

fn main() {
    // The manifest directory as Cargo gives it to this run (not `env!`, fixed when the build
    // script was compiled: a build script reused from another checkout of the workspace
    // would read that checkout's runbooks).
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("Cargo sets CARGO_MANIFEST_DIR");
    let dir = Path::new(&manifest).join("../runbooks");
    println!("cargo:rerun-if-changed={}", dir.display());
    // A binary without its runbooks would handle nothing: no folder is a build error.
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("the shipped runbooks, {}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    let mut out = String::from(
        "/// Shipped runbooks: (file name, YAML text, JSON form if the YAML parsed).\n\
         pub const EMBEDDED: &[(&str, &str, Option<&str>)] = &[\n",
    );
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
        let name = file.file_name().unwrap().to_string_lossy();
        let absolute = file.canonicalize().unwrap();
        let text = std::fs::read_to_string(file).unwrap();
        // A file that does not parse is embedded as YAML only: loading it reports the
        // error with its line and column (at `klaxon runbook check`, or the cold start).
        let json = serde_saphyr::from_str::<serde_json::Value>(&text)
            .ok()
            .map(|v| v.to_string());
        out.push_str(&format!(
            "    ({name:?}, include_str!({:?}), {json:?}),\n",
            absolute.display().to_string()
        ));
    }
    out.push_str("];\n");
    let target = Path::new(&std::env::var("OUT_DIR").unwrap()).join("embedded_runbooks.rs");
    std::fs::write(target, out).unwrap();
}
