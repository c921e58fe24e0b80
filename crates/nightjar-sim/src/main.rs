//! The `nightjar-sim` binary: parse the options, run, print the report.

use clap::Parser;
use nightjar_sim::Options;

/// A simulated network allocates and frees millions of small buffers an
/// hour (requests, answers, listings); mimalloc does that in about half
/// the time glibc's allocator takes here (BENCHMARKS.md, "Simulator").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let opts = Options::parse();
    let json = opts.json;
    match nightjar_sim::run(opts) {
        Ok(report) => {
            if json {
                match serde_json::to_string(&report) {
                    Ok(s) => println!("{s}"),
                    Err(e) => {
                        eprintln!("nightjar-sim: cannot encode the report: {e}");
                        return std::process::ExitCode::FAILURE;
                    }
                }
            } else {
                print!("{}", report.to_text());
            }
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("nightjar-sim: {e}");
            std::process::ExitCode::from(2)
        }
    }
}
