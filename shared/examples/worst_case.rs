//! Peak memory and time of each worst-case input (`tests/support/worst_case.rs`), each in a
//! fresh process so that one case's peak is not another's:
//!
//!     cargo run --release -p klaxon-shared --example worst_case
//!
//! prints one row per case: bytes, outcome, wall time of the one handling, and the process's
//! peak resident memory (`VmHWM`) before handling (runtime, engine, shipped runbooks
//! loaded, the input read) and after. Linux only (reads /proc/self/status). Figures: docs/PERFORMANCE.md.

use std::process::Command;
use std::time::Instant;

#[path = "../tests/support/worst_case.rs"]
mod worst_case;

fn peak_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Handles the event in `file` once, in this process, and prints its row.
fn run_one(name: &str, file: &str) {
    let bytes = std::fs::read(file).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (_backend, engine) = klaxon::memory::engine(klaxon::memory::embedded_settings());
    let before = peak_kib();
    let started = Instant::now();
    let report = runtime.block_on(engine.handle_bytes(&bytes)).unwrap();
    let elapsed = started.elapsed();
    let after = peak_kib();
    println!(
        "| {} | {} | {:?} | {:.1} ms | {:.1} MB | {:.1} MB |",
        name,
        bytes.len(),
        report.outcome,
        elapsed.as_secs_f64() * 1000.0,
        before as f64 / 1024.0,
        after as f64 / 1024.0
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let [_, flag, name, file] = args.as_slice() {
        if flag == "--case" {
            run_one(name, file);
            return;
        }
    }
    println!("| Case | Bytes | Outcome | Time (one handling) | Peak RSS before | Peak RSS after |");
    println!("|---|---|---|---|---|---|");
    // Built here and handed over as files: building them (by bisection) costs more memory
    // than handling them, and must not count.
    let me = std::env::current_exe().unwrap();
    let dir = std::env::temp_dir().join(format!("klaxon-worst-case-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (k, case) in worst_case::cases().into_iter().enumerate() {
        let file = dir.join(format!("{k}.json"));
        std::fs::write(&file, &case.bytes).unwrap();
        let status = Command::new(&me)
            .args(["--case", case.name, &file.to_string_lossy()])
            .status()
            .unwrap();
        assert!(status.success(), "{}", case.name);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
