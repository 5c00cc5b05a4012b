//! `passerelle backup` and `passerelle restore`: a consistent copy of a node's data.
//!
//! The SQLite databases are copied online with `VACUUM INTO` (a transactionally
//! consistent snapshot, safe while the server runs); the keys (server secret, audit
//! signing key and its retired keys, TLS) and the encrypted attachment blobs are copied
//! as files. On PostgreSQL the databases are saved with `pg_dump` (docs/OPERATIONS.md):
//! the command then copies keys and blobs only, and says so.
//!
//! A backup holds keys: store it as carefully as the server itself.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use sea_orm::{ConnectionTrait, Statement};
use serde::{Deserialize, Serialize};

use crate::audit::AuditOptions;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;

/// What a backup folder contains, written as `manifest.json`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    /// Version of the server that wrote it.
    pub server_version: String,
    /// When (unix ms).
    pub created_at: i64,
    /// Whether the databases are inside (SQLite) or must be restored from pg_dump.
    pub databases_included: bool,
    /// The files copied, relative to the backup folder.
    pub files: Vec<String>,
}

/// The files of the data directory that are copied as they are.
fn key_files(config: &Config, audit: &AuditOptions) -> Vec<(PathBuf, &'static str)> {
    let mut files = vec![
        (config.secret_key_path(), "server.key"),
        (audit.signing_key_path.clone(), "audit-signing.p8"),
    ];
    if let Some(retired) = &audit.retired_keys_path {
        files.push((retired.clone(), "audit-signing.retired"));
    }
    files.push((config.data_dir.join("tls/cert.pem"), "tls/cert.pem"));
    files.push((config.data_dir.join("tls/key.pem"), "tls/key.pem"));
    files
}

async fn vacuum_into(url: &str, target: &Path) -> anyhow::Result<()> {
    let db = crate::db::connect(url).await?;
    let path = target
        .to_str()
        .context("backup path is not UTF-8")?
        .replace('\'', "''");
    db.execute(Statement::from_string(
        db.get_database_backend(),
        format!("VACUUM INTO '{path}'"),
    ))
    .await
    .with_context(|| format!("cannot snapshot {url}"))?;
    db.close().await?;
    Ok(())
}

fn copy_dir(from: &Path, to: &Path, prefix: &str, files: &mut Vec<String>) -> anyhow::Result<()> {
    if !from.exists() {
        return Ok(());
    }
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let relative = format!("{prefix}/{name}");
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &to.join(&name), &relative, files)?;
        } else {
            std::fs::copy(entry.path(), to.join(&name))?;
            files.push(relative);
        }
    }
    Ok(())
}

/// Writes a backup of the node described by `config` into `dest` (created, must be empty).
pub async fn create(config: &Config, dest: &Path) -> anyhow::Result<Manifest> {
    if dest.exists() && std::fs::read_dir(dest)?.next().is_some() {
        bail!("{} is not empty", dest.display());
    }
    std::fs::create_dir_all(dest)?;
    set_private(dest)?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let audit = AuditOptions::from_config(config, clock.clone());
    let mut files = Vec::new();
    let sqlite = config.database_url.is_none();
    if sqlite {
        vacuum_into(&config.database_url(), &dest.join("passerelle.sqlite")).await?;
        files.push("passerelle.sqlite".to_owned());
    }
    if audit.database_url.starts_with("sqlite:") {
        vacuum_into(&audit.database_url, &dest.join("audit.sqlite")).await?;
        files.push("audit.sqlite".to_owned());
    }
    for (source, name) in key_files(config, &audit) {
        if source.exists() {
            let target = dest.join(name);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::copy(&source, &target)
                .with_context(|| format!("cannot copy {}", source.display()))?;
            files.push(name.to_owned());
        }
    }
    copy_dir(
        &config.data_dir.join("attachments"),
        &dest.join("attachments"),
        "attachments",
        &mut files,
    )?;
    let manifest = Manifest {
        server_version: env!("CARGO_PKG_VERSION").to_owned(),
        created_at: clock.now_ms(),
        databases_included: sqlite,
        files,
    };
    std::fs::write(
        dest.join("manifest.json"),
        serde_json::to_vec_pretty(&manifest)?,
    )?;
    Ok(manifest)
}

/// Restores a backup into the (empty or absent) data directory of `config`.
pub fn restore(config: &Config, source: &Path) -> anyhow::Result<Manifest> {
    let manifest: Manifest = serde_json::from_slice(
        &std::fs::read(source.join("manifest.json"))
            .context("no manifest.json: not a Passerelle backup")?,
    )?;
    let data_dir = &config.data_dir;
    if data_dir.join("passerelle.sqlite").exists() || data_dir.join("audit.sqlite").exists() {
        bail!(
            "{} already holds databases; restore into an empty data directory",
            data_dir.display()
        );
    }
    std::fs::create_dir_all(data_dir)?;
    set_private(data_dir)?;
    for relative in &manifest.files {
        if relative
            .split('/')
            .any(|part| part == ".." || part.is_empty())
        {
            bail!("unsafe path in the manifest: {relative}");
        }
        let from = source.join(relative);
        let to = data_dir.join(relative);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(&from, &to).with_context(|| format!("cannot restore {relative}"))?;
        if relative.ends_with(".key") || relative.ends_with(".p8") || relative.ends_with("key.pem")
        {
            set_private_file(&to)?;
        }
    }
    Ok(manifest)
}

fn set_private(dir: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

fn set_private_file(file: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}
