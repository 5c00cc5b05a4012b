//! `passerelle-bench`: the load generator of issue 8.
//!
//! It starts a real `passerelle serve` process (the release binary next to this one),
//! creates and logs in accounts, enrols their devices, seals real envelopes with the
//! SDK and drives the server over real WebSocket connections; the same generator then
//! drives a bare tokio-tungstenite broadcast hub (`passerelle-bench bare-hub`, a child
//! process) in the same run. It writes `docs/bench/report.json`, the table of
//! `docs/BENCH.md` and `docs/bench/latency.svg`.
//!
//! ```text
//! cargo build --release -p passerelle-server -p passerelle-tests
//! target/release/passerelle-bench --quick     # about two minutes
//! target/release/passerelle-bench             # the full run, under fifteen minutes
//! ```
//!
//! It is not a test: nothing here runs under `cargo test`.

#[path = "../bench/mod.rs"]
mod bench;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Measures Passerelle against a bare WebSocket hub on this machine.
#[derive(Debug, Parser)]
#[command(name = "passerelle-bench", about)]
struct Cli {
    /// Smaller sizes and fewer runs: finishes within two minutes.
    #[arg(long)]
    quick: bool,
    /// Runs per scenario (default: 3 in quick mode, 5 otherwise).
    #[arg(long)]
    runs: Option<usize>,
    /// The `passerelle` binary (default: next to this one).
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// Where BENCH.md and bench/ are written (default: the workspace's docs/).
    #[arg(long)]
    out_dir: Option<PathBuf>,
    /// Scratch directory for data directories and server logs, on the disk to measure
    /// (default: the workspace's target/bench-work; never a tmpfs, fsync must cost).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Only these sections, comma-separated: ceilings, startup, idle, fanout-fixed, fanout-max,
    /// small, durability, catch-up, postgres (for profiling one scenario).
    #[arg(long, value_delimiter = ',')]
    only: Option<Vec<String>>,
    /// Skip the PostgreSQL durability figure.
    #[arg(long)]
    no_postgres: bool,
    /// Do not write docs/ (print the table only).
    #[arg(long)]
    dry_run: bool,
    /// Names the server build in the report (default: the workspace's git commit).
    #[arg(long)]
    label: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the bare broadcast hub (the baseline), until killed.
    BareHub {
        /// Address to listen on.
        #[arg(long)]
        listen: SocketAddr,
    },
    /// Compare the latencies of wrong passwords and unknown logins (Mann-Whitney U);
    /// fails if they can be told apart.
    LoginTiming {
        /// Attempts of each kind.
        #[arg(long, default_value_t = 200)]
        tries: usize,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("passerelle-bench: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async move {
        match cli.command {
            Some(Command::BareHub { listen }) => bench::bare::serve(listen).await,
            Some(Command::LoginTiming { tries }) => bench::login_timing::run(tries).await,
            None => {
                let options = bench::scenarios::Options {
                    quick: cli.quick,
                    runs: cli.runs,
                    server_bin: cli.server_bin,
                    out_dir: cli.out_dir,
                    work_dir: cli.work_dir,
                    only: match (cli.only, cli.no_postgres) {
                        (Some(only), _) => Some(only),
                        (None, true) => Some(
                            bench::scenarios::SECTIONS
                                .iter()
                                .filter(|s| **s != "postgres")
                                .map(|s| (*s).to_owned())
                                .collect(),
                        ),
                        (None, false) => None,
                    },
                    dry_run: cli.dry_run,
                    label: cli.label,
                };
                bench::scenarios::run(options).await
            }
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("passerelle-bench: {err:#}");
            ExitCode::FAILURE
        }
    }
}
