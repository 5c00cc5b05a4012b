//! The command line: `passerelle serve | demo | migrate | admin … | audit verify`.

pub mod admin;
pub mod demo;

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Passerelle: end-to-end encrypted messaging for a CLSPD.
#[derive(Debug, Parser)]
#[command(name = "passerelle", version, about)]
pub struct Cli {
    /// Configuration file; `PASSERELLE_*` environment variables override it.
    #[arg(
        long,
        short,
        global = true,
        default_value = "passerelle.toml",
        env = "PASSERELLE_CONFIG"
    )]
    pub config: PathBuf,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    Serve,
    /// Run a demonstration server on the embedded SQLite database, with the institutions
    /// of a CLSPD and one account per role, whose credentials are printed.
    Demo {
        /// Where the demo keeps its data.
        #[arg(long, default_value = "passerelle-demo")]
        data_dir: PathBuf,
        /// Address to listen on (plain HTTP, loopback only).
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Leave out the sample week (a cellule de veille meeting with its agenda, a field
        /// report of the mediator, an ACTE referral): the accounts and one referral only.
        #[arg(long)]
        no_sample_week: bool,
    },
    /// Bring the database schemas up to date, then exit.
    Migrate,
    /// Copy the databases (online), keys and attachments into an empty folder.
    Backup {
        /// The folder to create.
        dest: PathBuf,
    },
    /// Restore a backup into the configured (empty) data directory.
    Restore {
        /// The backup folder.
        source: PathBuf,
    },
    /// Manage institutions and accounts.
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// The access log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Print the OpenAPI document of the REST API (for client generators).
    Openapi,
    /// Print the hash that names this release's browser client, to publish with the
    /// release (docs/OPERATIONS.md, « Checking the browser client »).
    ClientHash,
    /// Check that a running server hands out the published browser client: the page's
    /// hash, then every script and style against the pin the page gives. Exits non-zero
    /// on any difference, naming it.
    CheckClient {
        /// The server's address, e.g. `https://passerelle.example.fr`.
        url: String,
        /// The published hash (`sha256:…`); by default, this binary's own client.
        #[arg(long)]
        expected: Option<String>,
    },
    /// Run an independent witness of access logs (docs/AUDIT.md): its own address, its
    /// own data directory, meant for a machine the server's operator does not control.
    Witness {
        /// Address to listen on.
        #[arg(
            long,
            default_value = "127.0.0.1:7380",
            env = "PASSERELLE_WITNESS_LISTEN"
        )]
        listen: SocketAddr,
        /// Where the witness keeps its key and its append-only record.
        #[arg(
            long,
            default_value = "passerelle-witness",
            env = "PASSERELLE_WITNESS_DATA_DIR"
        )]
        data_dir: PathBuf,
        /// The witness's name in its cosignatures, e.g. `temoin.prefecture.example.fr`.
        #[arg(long, env = "PASSERELLE_WITNESS_NAME")]
        name: String,
        /// Verifier key of a log to witness (`GET /api/v1/audit/head` shows it); repeat
        /// for several logs.
        #[arg(long = "log", required = true)]
        logs: Vec<String>,
    },
}

/// Access-log subcommands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain, the Merkle tree, the signed checkpoints and the witnesses'
    /// cosignatures; exits non-zero on any tampering, naming the first broken seq.
    Verify {
        /// Also check the log against this exported cosigned head (`audit head`).
        #[arg(long)]
        against: Option<PathBuf>,
    },
    /// Print the latest signed checkpoint with its cosignatures, to keep apart and give
    /// later to `audit verify --against`.
    Head,
}
