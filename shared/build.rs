//! Embeds the shipped runbooks (`runbooks/*.yaml` at the workspace root) into the library,
//! so that a Lambda binary carries them and validates them at cold start. Each is embedded
//! as its YAML and, when that parses, as JSON too: deserializing JSON is far cheaper than
//! parsing YAML, and a cold start pays for every runbook.

use std::path::Path;

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../runbooks");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
                .collect()
        })
        .unwrap_or_default();
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
