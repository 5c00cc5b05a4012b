//! The `passerelle` binary: parses the command line, loads the configuration and runs.

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use passerelle_server::cli::{AuditCommand, Cli, Command};
use passerelle_server::clock::SystemClock;
use passerelle_server::config::{Config, LogFormat};
use passerelle_server::{cli, web, AppState};
use utoipa::OpenApi as _;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(err) => {
            eprintln!("passerelle: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PASSERELLE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,sea_orm=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    if let Command::Openapi = cli.command {
        let document = passerelle_server::http::openapi::ApiDoc::openapi().to_pretty_json()?;
        let _ = writeln!(std::io::stdout(), "{document}");
        return Ok(ExitCode::SUCCESS);
    }
    match &cli.command {
        Command::ClientHash => {
            let _ = writeln!(std::io::stdout(), "{}", web::bundle::bundle().hash);
            return Ok(ExitCode::SUCCESS);
        }
        Command::CheckClient { url, expected } => {
            let expected = expected
                .clone()
                .unwrap_or_else(|| web::bundle::bundle().hash.clone());
            let report = web::check::check(url, &expected).await?;
            let mut out = std::io::stdout();
            let _ = writeln!(out, "page: {} (expected {expected})", report.page_hash);
            for path in &report.mismatched {
                let _ = writeln!(out, "DIFFERS from the page's pin: {path}");
            }
            let _ = writeln!(
                out,
                "{}: {} scripts and styles match their pins",
                if report.holds() {
                    "SAME CLIENT"
                } else {
                    "DIFFERENT CLIENT"
                },
                report.files_checked
            );
            return Ok(if report.holds() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            });
        }
        _ => {}
    }
    let mut config = Config::load(&cli.config)?;
    if let Command::Demo {
        data_dir, listen, ..
    } = &cli.command
    {
        config.data_dir = data_dir.clone();
        config.listen = *listen;
        config.tls = false;
        // The demonstration's log key is generated beside, not inside, its data directory.
        let mut keys = data_dir.clone().into_os_string();
        keys.push("-keys");
        config.audit.log_key_file = Some(std::path::PathBuf::from(keys).join("audit-log.key"));
        config.audit.generate_log_key = true;
        config.validate()?;
    }
    init_logs(config.log_format);
    match cli.command {
        Command::Serve => {
            // Bound first, so that a port chosen by the system (":0") is the one the
            // origin checks expect.
            let listener = std::net::TcpListener::bind(config.listen)?;
            config.listen = listener.local_addr()?;
            let state = AppState::build(config.clone(), Arc::new(SystemClock)).await?;
            tracing::info!(listen = %listener.local_addr()?, origin = %config.origin(), "Passerelle is serving");
            passerelle_server::serve(listener, state.clone(), shutdown_signal()).await?;
            // A stopped server leaves no event outside a signed, witnessed checkpoint.
            if let Err(err) = state.audit.checkpoint_now().await {
                tracing::error!(error = %err, "could not sign the access log's last checkpoint");
            }
        }
        Command::Demo { no_sample_week, .. } => {
            let listener = std::net::TcpListener::bind(config.listen)?;
            config.listen = listener.local_addr()?;
            let state = AppState::build(config.clone(), Arc::new(SystemClock)).await?;
            let credentials = cli::demo::seed(&state).await?;
            if !no_sample_week {
                cli::demo::seed_sample_week(&state).await?;
            }
            // The name WebAuthn needs (a relying party cannot be an address): on a loopback
            // address, `localhost`. With a public origin (a proxy in front), the address
            // the server itself listens on, as before.
            let listening = format!("http://{}", listener.local_addr()?);
            let url = if config.public_origin.is_none() {
                config
                    .webauthn_origins()
                    .into_iter()
                    .next()
                    .unwrap_or(listening)
            } else {
                listening
            };
            // A closed terminal must not stop the server: write errors are ignored.
            let _ = writeln!(
                std::io::stdout(),
                "{}",
                cli::demo::banner(&url, &credentials)
            );
            drop(credentials);
            passerelle_server::serve(listener, state, shutdown_signal()).await?;
        }
        Command::Migrate => {
            AppState::build(config, Arc::new(SystemClock)).await?;
            println!("Database schemas are up to date.");
        }
        Command::Backup { dest } => {
            let manifest = passerelle_server::backup::create(&config, &dest).await?;
            println!(
                "Backup written to {} ({} files).",
                dest.display(),
                manifest.files.len()
            );
            if !manifest.databases_included {
                println!(
                    "PostgreSQL: save the database with pg_dump as well (docs/OPERATIONS.md)."
                );
            }
        }
        Command::Restore { source } => {
            let manifest = passerelle_server::backup::restore(&config, &source)?;
            println!(
                "Restored {} files into {}. Check the access log with `passerelle audit verify`.",
                manifest.files.len(),
                config.data_dir.display()
            );
        }
        Command::Admin(command) => {
            let state = AppState::build(config, Arc::new(SystemClock)).await?;
            cli::admin::run(&state, command).await?;
            // Like `serve` when it stops: what this command recorded is signed (and
            // witnessed) before it exits.
            state.audit.checkpoint_now().await?;
        }
        Command::Audit(AuditCommand::Verify { against }) => {
            if !passerelle_server::audit::verify_command(&config, against.as_deref()).await? {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Openapi | Command::ClientHash | Command::CheckClient { .. } => {}
        Command::Audit(AuditCommand::Head) => {
            print!("{}", passerelle_server::audit::head_command(&config).await?);
        }
        Command::Witness {
            listen,
            data_dir,
            name,
            logs,
        } => {
            let state =
                passerelle_server::audit::witness::WitnessState::open(&data_dir, &name, &logs)?;
            let listener = std::net::TcpListener::bind(listen)?;
            println!("Witness key: {}", state.verifier_key());
            tracing::info!(listen = %listener.local_addr()?, "Passerelle witness is serving");
            passerelle_server::audit::witness::serve(listener, Arc::new(state), shutdown_signal())
                .await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
