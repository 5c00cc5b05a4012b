//! Server processes: start them, wait until they answer, read their memory and CPU
//! time from `/proc`, stop them. Also the description of the machine.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::Serialize;
use tokio::process::{Child, Command};

/// A free TCP port on the loopback interface.
pub(crate) fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// Where a Passerelle server keeps its data.
#[derive(Clone, Debug)]
pub(crate) struct Backend {
    /// Its data directory (keys; the SQLite files when there is no database URL).
    pub(crate) data_dir: PathBuf,
    /// `postgres://…`, or `None` for the embedded SQLite database.
    pub(crate) database_url: Option<String>,
    /// The port it listens on, the same across restarts (clients keep their URLs).
    pub(crate) port: u16,
}

impl Backend {
    /// A backend in `data_dir`, on a free port.
    pub(crate) fn new(data_dir: PathBuf, database_url: Option<String>) -> Result<Backend> {
        Ok(Backend {
            data_dir,
            database_url,
            port: free_port()?,
        })
    }

    fn command(&self, bin: &Path) -> Command {
        let mut command = Command::new(bin);
        // A configuration file that does not exist: only the environment below counts.
        command
            .arg("--config")
            .arg(self.data_dir.join("bench-unused.toml"))
            .env_remove("PASSERELLE_CONFIG")
            .env("PASSERELLE_DATA_DIR", &self.data_dir)
            // The access log's checkpoint key, beside the data directory (not in it), made
            // on the first run.
            .env(
                "PASSERELLE_AUDIT__LOG_KEY_FILE",
                self.data_dir.with_extension("log-key"),
            )
            .env("PASSERELLE_AUDIT__GENERATE_LOG_KEY", "true")
            .env("PASSERELLE_TLS", "false")
            // The benchmark's admin has no security key to register: it measures
            // messages, not how admins log in.
            .env("PASSERELLE_WEBAUTHN__REQUIRED_ROLES", "[]")
            .env_remove("PASSERELLE_DATABASE_URL")
            .env_remove("PASSERELLE_LOG");
        if let Some(url) = &self.database_url {
            command.env("PASSERELLE_DATABASE_URL", url);
        }
        command
    }

    /// Runs `passerelle admin …` on this backend and returns what it printed.
    pub(crate) async fn admin(&self, bin: &Path, args: &[&str]) -> Result<String> {
        std::fs::create_dir_all(&self.data_dir)?;
        let output = self
            .command(bin)
            .arg("admin")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .await
            .with_context(|| format!("cannot run {}", bin.display()))?;
        if !output.status.success() {
            bail!(
                "passerelle admin {}: {}",
                args.first().unwrap_or(&""),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }
}

/// A running server process (Passerelle or the bare hub).
pub(crate) struct Process {
    child: Child,
    /// Its pid, for `/proc`.
    pub(crate) pid: u32,
    /// Where it listens.
    pub(crate) addr: SocketAddr,
    /// From the spawn to the first successful answer.
    pub(crate) started_in: Duration,
}

/// How long a process may take to answer before the bench gives up.
const START_TIMEOUT: Duration = Duration::from_secs(60);

impl Process {
    /// Starts `passerelle serve` on `backend`, logging to `log`, and waits until
    /// `/readyz` answers 200 (the database answers too).
    pub(crate) async fn passerelle(bin: &Path, backend: &Backend, log: &Path) -> Result<Process> {
        std::fs::create_dir_all(&backend.data_dir)?;
        let addr = SocketAddr::from(([127, 0, 0, 1], backend.port));
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)?;
        let mut command = backend.command(bin);
        command
            .arg("serve")
            .env("PASSERELLE_LISTEN", addr.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .kill_on_drop(true);
        let started = Instant::now();
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        let url = format!("http://{addr}/readyz");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()?;
        let mut process = Process {
            pid: child.id().context("the server exited at once")?,
            child,
            addr,
            started_in: Duration::ZERO,
        };
        loop {
            if let Ok(response) = http.get(&url).send().await {
                if response.status().is_success() {
                    break;
                }
            }
            process.check_alive(log)?;
            if started.elapsed() > START_TIMEOUT {
                bail!("passerelle did not become ready; see {}", log.display());
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        process.started_in = started.elapsed();
        Ok(process)
    }

    /// Starts the bare hub (this binary, `bare-hub`) and waits until it accepts a
    /// connection.
    pub(crate) async fn bare_hub(log: &Path) -> Result<Process> {
        let port = free_port()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)?;
        let started = Instant::now();
        let child = Command::new(std::env::current_exe()?)
            .args(["bare-hub", "--listen", &addr.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .kill_on_drop(true)
            .spawn()?;
        let mut process = Process {
            pid: child.id().context("the bare hub exited at once")?,
            child,
            addr,
            started_in: Duration::ZERO,
        };
        loop {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                break;
            }
            process.check_alive(log)?;
            if started.elapsed() > START_TIMEOUT {
                bail!("the bare hub did not start");
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        process.started_in = started.elapsed();
        Ok(process)
    }

    fn check_alive(&mut self, log: &Path) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            let tail = std::fs::read_to_string(log).unwrap_or_default();
            let tail: String = tail
                .lines()
                .rev()
                .take(20)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n");
            bail!("the server exited ({status}):\n{tail}");
        }
        Ok(())
    }

    /// `http://addr`.
    pub(crate) fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Resident memory, in KiB.
    pub(crate) fn rss_kib(&self) -> Result<u64> {
        rss_kib(self.pid)
    }

    /// CPU time used so far (user + system), in seconds.
    pub(crate) fn cpu_seconds(&self) -> Result<f64> {
        cpu_seconds(self.pid)
    }

    /// Stops the process with SIGTERM (a graceful shutdown), or kills it after a while.
    pub(crate) async fn stop(mut self) -> Result<()> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .await;
        match tokio::time::timeout(Duration::from_secs(20), self.child.wait()).await {
            Ok(status) => {
                status?;
            }
            Err(_) => {
                self.child.kill().await?;
            }
        }
        Ok(())
    }
}

/// `VmRSS` of a process, in KiB.
pub(crate) fn rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS in /proc/<pid>/status")
}

/// User + system CPU time of a process, in seconds.
pub(crate) fn cpu_seconds(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name may contain spaces: fields are counted after its closing ')'.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("bad /proc/<pid>/stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ')': state is field 3 of stat(5), so utime (14) and stime (15) are 11 and 12.
    let utime: u64 = fields.get(11).context("no utime")?.parse()?;
    let stime: u64 = fields.get(12).context("no stime")?.parse()?;
    Ok((utime + stime) as f64 / clock_ticks() as f64)
}

/// The 1-minute load average (NaN if unknown): the machine is shared, and a figure
/// taken under load says so beside it.
pub(crate) fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

fn clock_ticks() -> u64 {
    static TICKS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8_lossy(&out.stdout).trim().parse().ok())
            .unwrap_or(100)
    })
}

/// The machine the figures were taken on.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Machine {
    /// CPU model.
    pub(crate) cpu: String,
    /// Logical CPUs available to the processes.
    pub(crate) cores: usize,
    /// Installed memory, MiB.
    pub(crate) memory_mib: u64,
    /// Operating system.
    pub(crate) os: String,
    /// Kernel release.
    pub(crate) kernel: String,
    /// File system of the data directories (where fsync happens).
    pub(crate) storage: String,
    /// `rustc --version`.
    pub(crate) rustc: String,
    /// The commit measured.
    pub(crate) commit: String,
    /// `/proc/loadavg` when the benchmark started (other work on the machine skews it).
    pub(crate) load_at_start: String,
}

fn command_line(program: &str, args: &[&str], dir: Option<&Path>) -> Option<String> {
    let mut command = std::process::Command::new(program);
    command.args(args);
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    let output = command.output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// Describes this machine; `work_dir` is where the databases live; `label` names the
/// server build when it is not the workspace's commit.
pub(crate) fn machine(work_dir: &Path, workspace: &Path, label: Option<&str>) -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .map(|rest| rest.trim_start_matches([' ', '\t', ':']).trim().to_owned())
        .unwrap_or_else(|| "unknown".into());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory_mib = meminfo
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map_or(0, |kib| kib / 1024);
    let os = std::fs::read_to_string("/etc/os-release")
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("PRETTY_NAME="))
        .map(|name| name.trim_matches('"').to_owned())
        .unwrap_or_else(|| "Linux".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|k| k.trim().to_owned())
        .unwrap_or_default();
    let fs_type = command_line(
        "stat",
        &["-f", "-c", "%T", &work_dir.display().to_string()],
        None,
    )
    .unwrap_or_else(|| "unknown".into());
    let device = command_line(
        "df",
        &["--output=source", &work_dir.display().to_string()],
        None,
    )
    .and_then(|out| out.lines().nth(1).map(str::to_owned))
    .unwrap_or_default();
    let dirty = command_line(
        "git",
        &["status", "--porcelain", "--untracked-files=no"],
        Some(workspace),
    )
    .is_some_and(|out| !out.is_empty());
    let commit = match label {
        Some(label) => label.to_owned(),
        None => command_line("git", &["rev-parse", "--short", "HEAD"], Some(workspace))
            .map(|c| {
                if dirty {
                    format!("{c} (with uncommitted changes)")
                } else {
                    c
                }
            })
            .unwrap_or_else(|| "unknown".into()),
    };
    let load_at_start = std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    Machine {
        cpu,
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        memory_mib,
        os,
        kernel,
        storage: format!("{fs_type} on {device}"),
        rustc: command_line("rustc", &["--version"], None).unwrap_or_else(|| "unknown".into()),
        commit,
        load_at_start,
    }
}
