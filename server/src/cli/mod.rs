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
}

/// Access-log subcommands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain and the signed checkpoints; exits non-zero on any tampering.
    Verify,
}
