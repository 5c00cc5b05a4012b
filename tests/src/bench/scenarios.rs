//! What is measured, and in which order.
//!
//! 0. The machine's ceilings: P-256 verifications per second on one core, fsync times.
//! 1. Start-up and idle memory of a new server (empty data directory), and of the bare
//!    hub.
//! 2. A SQLite server with `people` accounts, each logged in with an enrolled device.
//! 3. Idle connections: resident memory per connection and CPU at idle.
//! 4. One connection per person on each target, then the message scenarios, runs
//!    alternating between Passerelle and the bare hub: fan-out at a fixed rate and at
//!    the maximum, many small channels, durability.
//! 5. Catch-up of missed messages (Passerelle only: the bare hub stores nothing).
//! 6. Start-up with the benchmark's data.
//! 7. Durability on PostgreSQL, with its own accounts.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use passerelle_shared::protocol::v1::ws::ServerFrame;

use super::load::{Endpoint, IdleSet, Pace, Pacing, PhaseOutcome, Target};
use super::population::{self, BareSize, BenchChannel, Person, PER_EPOCH};
use super::procs::{self, Backend, Process};
use super::report::{self, Better, Report, RunDetail, Scenario};
use super::stats::Percentiles;

/// What the command line asked for.
pub(crate) struct Options {
    /// Smaller sizes, fewer runs.
    pub(crate) quick: bool,
    /// Runs per scenario.
    pub(crate) runs: Option<usize>,
    /// The `passerelle` binary.
    pub(crate) server_bin: Option<PathBuf>,
    /// Where docs go.
    pub(crate) out_dir: Option<PathBuf>,
    /// Scratch directory.
    pub(crate) work_dir: Option<PathBuf>,
    /// Only these sections (see [`SECTIONS`]).
    pub(crate) only: Option<Vec<String>>,
    /// Print only.
    pub(crate) dry_run: bool,
    /// Names the server build measured, instead of the workspace's commit.
    pub(crate) label: Option<String>,
}

/// The sizes of a run.
struct Sizes {
    runs: usize,
    people: usize,
    fanout_members: usize,
    fixed_rate: f64,
    fixed_cycles: usize,
    max_cycles: usize,
    small_channels: usize,
    small_members: usize,
    idle_connections: usize,
    idle_runs: usize,
    idle_seconds: f64,
    catch_up: u64,
    durability_channels: usize,
    pg_people: usize,
}

impl Sizes {
    fn new(quick: bool, runs: Option<usize>) -> Sizes {
        if quick {
            Sizes {
                runs: runs.unwrap_or(3),
                people: 130,
                fanout_members: 100,
                fixed_rate: 1000.0,
                fixed_cycles: 20,
                max_cycles: 15,
                small_channels: 200,
                small_members: 5,
                idle_connections: 2000,
                idle_runs: 1,
                idle_seconds: 2.0,
                catch_up: 10_000,
                durability_channels: 130,
                pg_people: 50,
            }
        } else {
            Sizes {
                runs: runs.unwrap_or(5),
                people: 700,
                fanout_members: 100,
                fixed_rate: 1000.0,
                fixed_cycles: 80,
                max_cycles: 40,
                small_channels: 1000,
                small_members: 5,
                idle_connections: 10_000,
                idle_runs: 3,
                idle_seconds: 5.0,
                catch_up: 10_000,
                durability_channels: 400,
                pg_people: 200,
            }
        }
    }

    fn table(&self) -> std::collections::BTreeMap<String, f64> {
        [
            ("accounts (SQLite)", self.people as f64),
            ("fan-out channel members", self.fanout_members as f64),
            ("fixed rate (msg/s)", self.fixed_rate),
            (
                "messages per fixed-rate run",
                (self.fixed_cycles * PER_EPOCH) as f64,
            ),
            (
                "messages per max-rate run",
                (self.max_cycles * PER_EPOCH) as f64,
            ),
            ("small channels", self.small_channels as f64),
            ("members per small channel", self.small_members as f64),
            ("idle connections", self.idle_connections as f64),
            ("catch-up messages", self.catch_up as f64),
            (
                "durability channels (SQLite)",
                self.durability_channels as f64,
            ),
            ("accounts (PostgreSQL)", self.pg_people as f64),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }
}

/// Client-side pacing of every Passerelle connection: below the server's limit of
/// 200 frames/s (burst 400) per connection, which the bench must not trip.
const PACING: Pacing = Pacing {
    per_second: 150.0,
    burst: 150.0,
};

const ADMIN: &str = "banc.admin";

fn say(began: Instant, what: &str) {
    eprintln!("[{:>6.1} s] {what}", began.elapsed().as_secs_f64());
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn ws_url(base: &str, person: &Person) -> String {
    format!(
        "{}/api/v1/ws?device_id={}",
        base.replacen("http", "ws", 1),
        person.device.device_id
    )
}

fn endpoints(base: &str, people: &[Person]) -> Vec<Endpoint> {
    people
        .iter()
        .map(|p| (ws_url(base, p), Some(p.token.clone())))
        .collect()
}

/// The bare hub's endpoints: each person's connection joins the rooms of their channels.
fn bare_endpoints(
    addr: std::net::SocketAddr,
    people: usize,
    channels: &[&[BenchChannel]],
) -> Vec<Endpoint> {
    let mut rooms: Vec<Vec<&str>> = vec![Vec::new(); people];
    for group in channels {
        for channel in group.iter() {
            for member in &channel.members {
                rooms[*member].push(&channel.id);
            }
        }
    }
    rooms
        .into_iter()
        .map(|list| (format!("ws://{addr}/?rooms={}", list.join(",")), None))
        .collect()
}

/// The sections `--only` can pick.
pub(crate) const SECTIONS: &[&str] = &[
    "ceilings",
    "startup",
    "idle",
    "fanout-fixed",
    "fanout-max",
    "small",
    "durability",
    "catch-up",
    "postgres",
];

/// Runs the benchmark and writes the report.
pub(crate) async fn run(options: Options) -> Result<()> {
    let began = Instant::now();
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("workspace")?
        .to_path_buf();
    let sizes = Sizes::new(options.quick, options.runs);
    let wants = |section: &str| {
        options
            .only
            .as_ref()
            .is_none_or(|only| only.iter().any(|s| s == section))
    };
    if let Some(only) = &options.only {
        if let Some(unknown) = only.iter().find(|s| !SECTIONS.contains(&s.as_str())) {
            bail!("unknown section {unknown:?}: use {}", SECTIONS.join(", "));
        }
    }
    let bin = match options.server_bin {
        Some(bin) => bin,
        None => std::env::current_exe()?
            .parent()
            .context("no directory")?
            .join("passerelle"),
    };
    if !bin.exists() {
        bail!(
            "{} not found: cargo build --release -p passerelle-server",
            bin.display()
        );
    }
    let out_dir = options.out_dir.unwrap_or_else(|| workspace.join("docs"));
    let work = options
        .work_dir
        .unwrap_or_else(|| workspace.join("target").join("bench-work"));
    if work.exists() {
        std::fs::remove_dir_all(&work)?;
    }
    std::fs::create_dir_all(&work)?;
    let machine = procs::machine(&work, &workspace, options.label.as_deref());
    let mut notes = Vec::new();
    if cfg!(debug_assertions) {
        notes.push(
            "passerelle-bench was built without --release: the generator itself is slow, \
             every figure is pessimistic."
                .to_owned(),
        );
    }
    if options.only.is_some() {
        notes.push(format!(
            "Partial run (--only {}).",
            options.only.as_deref().unwrap_or_default().join(",")
        ));
    }
    let http = reqwest::Client::new();
    let mut scenarios = Vec::new();
    let mut tag = 0u32;
    let mut svg = None;

    if wants("ceilings") {
        say(
            began,
            "the machine's ceilings: signature verification, fsync",
        );
        scenarios.push(ceilings(&work, sizes.runs).await?);
    }

    let mut startup = if wants("startup") {
        say(began, "start-up and idle memory of a new server");
        Some(startup_fresh(&bin, &work, sizes.runs).await?)
    } else {
        None
    };

    say(began, "SQLite server: accounts, logins, devices");
    let backend = Backend::new(work.join("sqlite"), None)?;
    let log = work.join("passerelle-sqlite.log");
    let (institution, admin_password) = population::bootstrap(&bin, &backend, ADMIN).await?;
    let mut server = Process::passerelle(&bin, &backend, &log).await?;
    let setup = Instant::now();
    let admin = Arc::new(population::admin_client(&server.base(), ADMIN, &admin_password).await?);
    let charter = population::publish_charter(&admin).await?;
    let people = population::create_people(
        &server.base(),
        admin.clone(),
        &institution,
        "banc.",
        sizes.people,
        charter,
    )
    .await?;
    notes.push(format!(
        "Setting up {} accounts (creation by the admin API, first login with TOTP, device \
         enrolment with key backup, charter accepted) took {:.0} s: argon2id on the server \
         and the backup's PBKDF2 on the client dominate.",
        sizes.people,
        setup.elapsed().as_secs_f64()
    ));
    say(began, &format!("server pid {}", server.pid));

    if wants("idle") {
        say(began, "idle connections");
        let (idle, restarted) =
            idle_connections(&bin, &backend, &log, server, &people, &sizes, &work).await?;
        server = restarted;
        scenarios.push(idle);
        say(began, &format!("server pid {}", server.pid));
    }

    say(
        began,
        "channels (created, internal rules published and accepted)",
    );
    let mut fanout = population::create_channels(
        &people,
        &institution,
        "Groupe jeunesse",
        vec![(0..sizes.fanout_members.min(people.len())).collect()],
    )
    .await?;
    let mut small = if wants("small") {
        population::create_channels(
            &people,
            &institution,
            "Cellule de veille",
            (0..sizes.small_channels)
                .map(|c| {
                    (0..sizes.small_members)
                        .map(|j| (c * sizes.small_members + j) % people.len())
                        .collect()
                })
                .collect(),
        )
        .await?
    } else {
        Vec::new()
    };
    let mut durable = if wants("durability") {
        population::create_channels(
            &people,
            &institution,
            "Notes",
            (0..people.len().min(sizes.durability_channels))
                .map(|p| vec![p])
                .collect(),
        )
        .await?
    } else {
        Vec::new()
    };

    say(began, "connections of the message scenarios");
    let passerelle = Target::open(
        "Passerelle",
        endpoints(&server.base(), &people),
        Some(PACING),
        Some(server.base()),
        server.pid,
    )
    .await?;
    let bare_process = Process::bare_hub(&work.join("bare.log")).await?;
    let bare = Target::open(
        "bare hub",
        bare_endpoints(
            bare_process.addr,
            people.len(),
            &[&fanout, &small, &durable],
        ),
        None,
        None,
        bare_process.pid,
    )
    .await?;
    let targets = Targets {
        passerelle: &passerelle,
        bare: &bare,
        http: &http,
    };

    if wants("fanout-fixed") {
        say(began, "fan-out at a fixed rate");
        let fixed = targets
            .runs(
                &people,
                &mut fanout,
                sizes.fixed_cycles,
                Pace::PerSecond(sizes.fixed_rate),
                sizes.runs,
                &mut tag,
                began,
                false,
            )
            .await?;
        let mut scenario = Scenario::new(
            "fanout_fixed",
            "Fan-out, fixed rate",
            format!(
                "one channel of {} members (one connection each), {} messages/s offered by all members in turn, {} messages per run; every 100 messages the next sender publishes a new epoch key wrapped for the 100 devices (the server refuses a 101st message).",
                sizes.fanout_members, sizes.fixed_rate, sizes.fixed_cycles * PER_EPOCH
            ),
        );
        message_metrics(&mut scenario, &fixed, Kind::Fixed);
        svg = Some(report::latency_svg(
            &format!(
                "Fan-out: {} msg/s into a {}-member channel, send → arrival",
                sizes.fixed_rate, sizes.fanout_members
            ),
            &[
                ("Passerelle", "#c0392b", &merged_samples(&fixed.0)),
                ("bare hub", "#2c3e50", &merged_samples(&fixed.1)),
            ],
        ));
        scenarios.push(scenario);
    }

    if wants("fanout-max") {
        say(began, "fan-out at the maximum rate");
        let max = targets
            .runs(
                &people,
                &mut fanout,
                sizes.max_cycles,
                Pace::Max,
                sizes.runs,
                &mut tag,
                began,
                true,
            )
            .await?;
        let mut scenario = Scenario::new(
            "fanout_max",
            "Fan-out, maximum rate",
            format!(
                "the same channel, {} messages per run sent as fast as the server acknowledges them (Passerelle: an epoch of 100 at a time, each publication included in the time; bare hub: 100 in flight).",
                sizes.max_cycles * PER_EPOCH
            ),
        );
        message_metrics(&mut scenario, &max, Kind::Max);
        scenarios.push(scenario);
    }

    if wants("small") {
        say(began, "many small channels");
        let many = targets
            .runs(
                &people,
                &mut small,
                1,
                Pace::Max,
                sizes.runs,
                &mut tag,
                began,
                false,
            )
            .await?;
        let mut scenario = Scenario::new(
            "small_channels",
            "Many small channels",
            format!(
                "{} channels of {} members drawn from the {} accounts (one connection each), one epoch of 100 messages per channel per run, all channels at once at the maximum rate.",
                sizes.small_channels, sizes.small_members, people.len()
            ),
        );
        message_metrics(&mut scenario, &many, Kind::Many);
        scenarios.push(scenario);
    }

    let mut durability = Scenario::new(
        "durability",
        "Durability",
        format!(
            "acknowledged messages per second, each acknowledged only once its transaction has committed (synchronous=FULL on SQLite): {} one-member channels on SQLite ({} on PostgreSQL), one epoch of 100 messages each per run, all at once.",
            people.len().min(sizes.durability_channels), sizes.pg_people
        ),
    );
    if wants("durability") {
        say(began, "durability on SQLite");
        let stored = targets
            .runs(
                &people,
                &mut durable,
                1,
                Pace::Max,
                sizes.runs,
                &mut tag,
                began,
                false,
            )
            .await?;
        durability_metrics(&mut durability, &stored, "SQLite", ("≥ 20,000/s", 20_000.0));
    }

    let closed = passerelle.closed();
    if !closed.is_empty() {
        notes.push(format!(
            "{} Passerelle connections were closed during the message scenarios, e.g. {}.",
            closed.len(),
            closed[0]
        ));
    }
    passerelle.close();
    bare.close();

    if wants("catch-up") {
        say(began, "catch-up");
        let mut times = Vec::new();
        let mut rates = Vec::new();
        let mut details = Vec::new();
        let mut missed = 0;
        for run in 0..sizes.runs {
            // Each run on a freshly started server, as after a night: nothing of the
            // previous run is in the server's memory.
            server.stop().await?;
            server = Process::passerelle(&bin, &backend, &log).await?;
            let (count, elapsed, detail) =
                catch_up(&people, &fanout[0], sizes.catch_up, run).await?;
            missed = count;
            times.push(elapsed * 1000.0);
            rates.push(count as f64 / elapsed);
            details.push(detail);
        }
        let mut scenario = Scenario::new(
            "catch_up",
            "Catch-up",
            format!(
                "a member of the fan-out channel reconnects with the SDK to a freshly started server and syncs the last {missed} messages it missed (sync frame → every message frame parsed by the SDK → synced); the bare hub keeps no history."
            ),
        );
        scenario.metric(
            "catch_up_ms",
            &format!("Time to sync {missed} missed messages"),
            "ms",
            Better::Lower,
            &times,
            &[],
            None,
        );
        scenario.metric(
            "catch_up_per_s",
            "Messages per second during the catch-up",
            "msg/s",
            Better::Higher,
            &rates,
            &[],
            None,
        );
        scenario.runs = details;
        scenarios.push(scenario);
    }

    if let Some(startup) = startup.as_mut() {
        say(began, "start-up with the benchmark's data");
        let mut starts = Vec::new();
        let mut rss = Vec::new();
        for _ in 0..sizes.runs {
            server.stop().await?;
            server = Process::passerelle(&bin, &backend, &log).await?;
            starts.push(ms(server.started_in));
            tokio::time::sleep(Duration::from_secs(1)).await;
            rss.push(server.rss_kib()? as f64 / 1024.0);
        }
        startup.metric(
            "startup_populated_ms",
            "Start-up with the benchmark's data",
            "ms",
            Better::Lower,
            &starts,
            &[],
            Some(("≤ 200 ms", 200.0, false)),
        );
        startup.metric(
            "idle_rss_populated_mib",
            "Resident memory, idle, with that data",
            "MiB",
            Better::Lower,
            &rss,
            &[],
            None,
        );
    }
    server.stop().await?;
    if let Some(startup) = startup {
        scenarios.insert(0, startup);
    }

    if wants("postgres") {
        say(began, "PostgreSQL: accounts, durability");
        match postgres(&bin, &work, &sizes, &bare_process, &http, &mut tag, began).await {
            Ok(outcomes) => durability_metrics(
                &mut durability,
                &outcomes,
                "PostgreSQL",
                ("≥ 10,000/s", 10_000.0),
            ),
            Err(err) => notes.push(format!("PostgreSQL figure missing: {err:#}")),
        }
    }
    if !durability.metrics.is_empty() {
        scenarios.push(durability);
    }
    bare_process.stop().await?;

    let report = Report {
        generated_at: time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        mode: if options.quick { "quick" } else { "full" }.into(),
        runs: sizes.runs,
        duration_s: began.elapsed().as_secs_f64(),
        machine,
        sizes: sizes.table(),
        scenarios,
        notes,
    };
    println!("{}", report::markdown(&report));
    if !options.dry_run {
        report::write(&out_dir, &report, svg.as_deref())?;
        say(began, &format!("written to {}", out_dir.display()));
    }
    Ok(())
}

/// What the machine allows the message path at most, whatever the server does around it:
/// the server verifies one P-256 signature per message (and one per wrap of each epoch
/// publication, one in a hundred messages per member device), and a durable
/// acknowledgement waits for an fsync of the data directory's disk, shared by a batch.
/// Measured in this process while no server runs, with the server's own library.
async fn ceilings(work: &Path, runs: usize) -> Result<Scenario> {
    let mut verifications = Vec::new();
    for _ in 0..runs {
        verifications.push(tokio::task::spawn_blocking(verifications_per_second).await??);
    }
    let probe = work.join("fsync-probe");
    let fsyncs = tokio::task::spawn_blocking(move || fsync_latencies(&probe, 200)).await??;
    let mut scenario = Scenario::new(
        "ceilings",
        "The machine's ceilings",
        "what the message path cannot go beyond on this machine: P-256 signature verifications per second on one core, with the library the server verifies with (ring), on a message signed by a device key (the server verifies one per message, plus one per wrap of each epoch publication); and the time of an fsync of 4 KiB appended to a file of the data directory (a durable acknowledgement waits for one, shared by the writer's batch).".into(),
    );
    scenario.metric(
        "verifications_per_second",
        "P-256 signature verifications per second, one core",
        "/s",
        Better::Higher,
        &verifications,
        &[],
        None,
    );
    let mut micros: Vec<u32> = fsyncs
        .iter()
        .map(|ms| (ms * 1000.0).round() as u32)
        .collect();
    let fsync = Percentiles::of_micros(&mut micros);
    scenario.metric(
        "fsync_p50_ms",
        "fsync of the data directory's disk, p50",
        "ms",
        Better::Lower,
        &[fsync.p50],
        &[],
        None,
    );
    scenario.metric(
        "fsync_p99_ms",
        "fsync of the data directory's disk, p99",
        "ms",
        Better::Lower,
        &[fsync.p99],
        &[],
        None,
    );
    Ok(scenario)
}

/// Verifies one envelope's signature for about a second on this thread.
fn verifications_per_second() -> Result<f64> {
    use passerelle_shared::crypto::{
        DeviceKeys, Envelope, EpochKey, MessageContent, MessageHeader,
    };
    let device = DeviceKeys::generate().map_err(|e| anyhow::anyhow!("device keys: {e}"))?;
    let key = EpochKey::generate().map_err(|e| anyhow::anyhow!("epoch key: {e}"))?;
    let header = MessageHeader {
        channel_id: "plafond".into(),
        epoch: 1,
        sender_device: "appareil".into(),
        client_msg_id: super::load::message_id(0, 0),
        order: None,
    };
    let envelope = Envelope::seal(header, &MessageContent::text("Bonjour"), &key, &device)
        .map_err(|e| anyhow::anyhow!("sealing: {e}"))?;
    let signing = &device.public_keys().signing;
    let began = Instant::now();
    let mut count = 0u64;
    while began.elapsed() < Duration::from_secs(1) {
        for _ in 0..100 {
            if envelope.verify_signature(signing).is_err() {
                bail!("a signature the device made does not verify");
            }
        }
        count += 100;
    }
    Ok(count as f64 / began.elapsed().as_secs_f64())
}

/// Appends 4 KiB to `path` and fsyncs it, `count` times: each fsync's time in ms.
fn fsync_latencies(path: &Path, count: usize) -> Result<Vec<f64>> {
    use std::io::Write as _;
    let mut file = std::fs::File::create(path)?;
    let block = [0x5au8; 4096];
    let mut times = Vec::with_capacity(count);
    for _ in 0..count {
        file.write_all(&block)?;
        let began = Instant::now();
        file.sync_data()?;
        times.push(ms(began.elapsed()));
    }
    drop(file);
    std::fs::remove_file(path)?;
    Ok(times)
}

async fn startup_fresh(bin: &Path, work: &Path, runs: usize) -> Result<Scenario> {
    let mut starts = Vec::new();
    let mut rss = Vec::new();
    let mut cpu = Vec::new();
    for run in 0..runs {
        let backend = Backend::new(work.join(format!("startup-{run}")), None)?;
        let server = Process::passerelle(bin, &backend, &work.join("startup.log")).await?;
        starts.push(ms(server.started_in));
        tokio::time::sleep(Duration::from_millis(500)).await;
        let before = server.cpu_seconds()?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        cpu.push((server.cpu_seconds()? - before) * 100.0);
        rss.push(server.rss_kib()? as f64 / 1024.0);
        server.stop().await?;
    }
    let mut bare_starts = Vec::new();
    let mut bare_rss = Vec::new();
    let mut bare_cpu = Vec::new();
    for _ in 0..runs {
        let hub = Process::bare_hub(&work.join("bare-startup.log")).await?;
        bare_starts.push(ms(hub.started_in));
        tokio::time::sleep(Duration::from_millis(500)).await;
        let before = hub.cpu_seconds()?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        bare_cpu.push((hub.cpu_seconds()? - before) * 100.0);
        bare_rss.push(hub.rss_kib()? as f64 / 1024.0);
        hub.stop().await?;
    }
    let mut scenario = Scenario::new(
        "startup",
        "Start-up and idle",
        "a new server on an empty data directory (migrations, key generation) until /readyz answers (the bare hub: until it accepts a connection); memory and CPU once idle; then the same server restarted on the data of this benchmark.".into(),
    );
    scenario.metric(
        "startup_ms",
        "Start-up, empty data directory",
        "ms",
        Better::Lower,
        &starts,
        &bare_starts,
        Some(("≤ 200 ms", 200.0, false)),
    );
    scenario.metric(
        "idle_rss_mib",
        "Resident memory, idle, just started",
        "MiB",
        Better::Lower,
        &rss,
        &bare_rss,
        Some(("≤ 30 MiB", 30.0, false)),
    );
    scenario.metric(
        "idle_cpu_percent",
        "CPU at idle, no connection",
        "% of a core",
        Better::Lower,
        &cpu,
        &bare_cpu,
        None,
    );
    Ok(scenario)
}

async fn idle_connections(
    bin: &Path,
    backend: &Backend,
    log: &Path,
    mut server: Process,
    people: &[Person],
    sizes: &Sizes,
    work: &Path,
) -> Result<(Scenario, Process)> {
    let count = sizes.idle_connections;
    let mut per_connection = Vec::new();
    let mut cpu = Vec::new();
    let mut open_secs = Vec::new();
    let mut after_close = Vec::new();
    let mut runs = Vec::new();
    for run in 0..sizes.idle_runs {
        // A fresh process: memory freed by the previous run must not hide this one's.
        server.stop().await?;
        server = Process::passerelle(bin, backend, log).await?;
        let list: Vec<Endpoint> = (0..count)
            .map(|i| {
                let person = &people[i % people.len()];
                (ws_url(&server.base(), person), Some(person.token.clone()))
            })
            .collect();
        let (kib, load, secs, closed, detail) =
            idle_once(&server, list, sizes, "Passerelle", run).await?;
        per_connection.push(kib);
        cpu.push(load);
        open_secs.push(secs);
        after_close.push(closed);
        runs.push(detail);
    }
    // And the message scenarios start on a fresh process too.
    server.stop().await?;
    server = Process::passerelle(bin, backend, log).await?;
    let mut bare_per_connection = Vec::new();
    let mut bare_cpu = Vec::new();
    let mut bare_open = Vec::new();
    let mut bare_after_close = Vec::new();
    for run in 0..sizes.idle_runs {
        let hub = Process::bare_hub(&work.join("bare-idle.log")).await?;
        let list: Vec<Endpoint> = (0..count)
            .map(|_| (format!("ws://{}/?rooms=", hub.addr), None))
            .collect();
        let (kib, load, secs, closed, detail) =
            idle_once(&hub, list, sizes, "bare hub", run).await?;
        bare_per_connection.push(kib);
        bare_cpu.push(load);
        bare_open.push(secs);
        bare_after_close.push(closed);
        runs.push(detail);
        hub.stop().await?;
    }
    let mut scenario = Scenario::new(
        "connections",
        "Idle connections",
        format!(
            "{count} authenticated WebSocket connections ({} accounts, up to 16 each), each pinging every 25 s as clients do; memory is the growth of the server's resident set divided by the connections, CPU is measured over {} s.",
            people.len(), sizes.idle_seconds
        ),
    );
    scenario.metric(
        "rss_per_connection_kib",
        "Resident memory per idle connection",
        "KiB",
        Better::Lower,
        &per_connection,
        &bare_per_connection,
        Some(("≤ 10 KiB", 10.0, false)),
    );
    scenario.metric(
        "idle_cpu_percent",
        &format!("CPU at idle with {count} connections"),
        "% of a core",
        Better::Lower,
        &cpu,
        &bare_cpu,
        None,
    );
    scenario.metric(
        "cpu_after_close_percent",
        "CPU once every connection has closed",
        "% of a core",
        Better::Lower,
        &after_close,
        &bare_after_close,
        None,
    );
    scenario.metric(
        "open_seconds",
        &format!("Time to open the {count} connections (32 at a time)"),
        "s",
        Better::Lower,
        &open_secs,
        &bare_open,
        None,
    );
    scenario.runs = runs;
    Ok((scenario, server))
}

async fn idle_once(
    server: &Process,
    list: Vec<Endpoint>,
    sizes: &Sizes,
    target: &str,
    run: usize,
) -> Result<(f64, f64, f64, f64, RunDetail)> {
    let count = list.len();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = server.rss_kib()?;
    let opening = Instant::now();
    let (set, errors) = IdleSet::open(list, 32).await;
    let open_secs = opening.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = server.rss_kib()?;
    let open = set.open_count();
    let cpu_before = server.cpu_seconds()?;
    tokio::time::sleep(Duration::from_secs_f64(sizes.idle_seconds)).await;
    let load = (server.cpu_seconds()? - cpu_before) / sizes.idle_seconds * 100.0;
    let still_open = set.open_count();
    set.close();
    // Once every client is gone the server must be idle again.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let cpu_before = server.cpu_seconds()?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after_close = (server.cpu_seconds()? - cpu_before) / 2.0 * 100.0;
    let mut failures: Vec<String> = errors.iter().take(3).cloned().collect();
    if !errors.is_empty() {
        failures.insert(0, format!("{} of {count} connections failed", errors.len()));
    }
    if still_open < open {
        failures.push(format!(
            "{} connections closed while idle",
            open - still_open
        ));
    }
    if open == 0 {
        bail!("{target}: no connection could be opened: {failures:?}");
    }
    let per_connection = after.saturating_sub(before) as f64 / open as f64;
    let detail = RunDetail {
        target: target.into(),
        run,
        counts: [
            ("connections".to_owned(), open as f64),
            ("rss_before_kib".to_owned(), before as f64),
            ("rss_after_kib".to_owned(), after as f64),
        ]
        .into_iter()
        .collect(),
        codes: Default::default(),
        failures,
    };
    Ok((per_connection, load, open_secs, after_close, detail))
}

/// The two targets of the message scenarios.
struct Targets<'a> {
    passerelle: &'a Target,
    bare: &'a Target,
    http: &'a reqwest::Client,
}

/// Outcomes per run: Passerelle's, the bare hub's (frames as large as Passerelle's), and
/// the bare hub's with 300-byte frames when asked.
type Outcomes = (Vec<PhaseOutcome>, Vec<PhaseOutcome>, Vec<PhaseOutcome>);

/// The bare hub with 300-byte frames: the reference figure of this machine (DESIGN.md
/// §10), to show whether the generator or the hub is the limit.
const REFERENCE_FRAME: usize = 300;

impl Targets<'_> {
    /// `runs` runs of `cycles` epochs per channel, alternating which target goes first;
    /// with `reference`, each run ends with the bare hub relaying 300-byte frames.
    #[allow(clippy::too_many_arguments)]
    async fn runs(
        &self,
        people: &[Person],
        channels: &mut [BenchChannel],
        cycles: usize,
        pace: Pace,
        runs: usize,
        tag: &mut u32,
        began: Instant,
        reference: bool,
    ) -> Result<Outcomes> {
        let mut passerelle = Vec::new();
        let mut bare = Vec::new();
        let mut bare_reference = Vec::new();
        for run in 0..runs {
            *tag += 1;
            let run_tag = *tag;
            let plan = tokio::task::block_in_place(|| {
                population::build_plan(people, channels, cycles, run_tag, &|p| {
                    u32::try_from(p).unwrap_or(u32::MAX)
                })
            })?;
            let as_delivered = tokio::task::block_in_place(|| {
                population::bare_plan(&plan, BareSize::AsDelivered)
            })?;
            let small_frames = if reference {
                Some(population::bare_plan(
                    &plan,
                    BareSize::Bytes(REFERENCE_FRAME),
                )?)
            } else {
                None
            };
            let mut order = if run % 2 == 0 {
                vec![(self.passerelle, &plan), (self.bare, &as_delivered)]
            } else {
                vec![(self.bare, &as_delivered), (self.passerelle, &plan)]
            };
            if let Some(small_frames) = &small_frames {
                order.push((self.bare, small_frames));
            }
            for (position, (target, plan)) in order.into_iter().enumerate() {
                let outcome = target.run(plan, pace, self.http).await;
                say(
                    began,
                    &format!(
                        "  run {run} {:<10} {:>9.0} acked/s {:>10.0} deliveries/s  p50 {:.2} ms  p99 {:.2} ms  {:.0} B/frame  CPU server {:.0} % generator {:.0} %  load {:.2}{}{}",
                        target.name,
                        outcome.acked_per_s,
                        outcome.deliveries_per_s,
                        outcome.latency.p50,
                        outcome.latency.p99,
                        outcome.delivered_frame_bytes,
                        outcome.cpu.server,
                        outcome.cpu.generator,
                        outcome.cpu.load1,
                        if outcome.codes.is_empty() {
                            String::new()
                        } else {
                            format!("  refused {} {:?}", outcome.refused, outcome.codes)
                        },
                        if outcome.failures.is_empty() {
                            String::new()
                        } else {
                            format!("  FAILURES: {:?}", outcome.failures)
                        }
                    ),
                );
                let failed = !outcome.failures.is_empty();
                if target.epochs.is_some() {
                    if failed {
                        population::resync_epochs(people, channels).await?;
                    }
                    passerelle.push(outcome);
                } else if position == 2 {
                    bare_reference.push(outcome);
                } else {
                    bare.push(outcome);
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        Ok((passerelle, bare, bare_reference))
    }
}

fn merged_samples(outcomes: &[PhaseOutcome]) -> Vec<u32> {
    outcomes
        .iter()
        .flat_map(|o| o.samples.iter().copied())
        .collect()
}

fn details(outcomes: &Outcomes) -> Vec<RunDetail> {
    let mut runs = Vec::new();
    for (target, list) in [
        ("Passerelle", &outcomes.0),
        ("bare hub", &outcomes.1),
        ("bare hub, 300-byte frames", &outcomes.2),
    ] {
        for (run, o) in list.iter().enumerate() {
            runs.push(RunDetail {
                target: target.into(),
                run,
                counts: [
                    ("messages", o.messages as f64),
                    ("acked", o.acked as f64),
                    ("refused", o.refused as f64),
                    ("deliveries", o.deliveries as f64),
                    ("expected_deliveries", o.expected_deliveries as f64),
                    ("ack_p50_ms", o.ack_latency.p50),
                    ("sent_frame_bytes", o.sent_frame_bytes),
                    ("delivered_frame_bytes", o.delivered_frame_bytes),
                    ("server_cpu_percent", o.cpu.server),
                    ("generator_cpu_percent", o.cpu.generator),
                    ("load_average_1min", o.cpu.load1),
                    ("ack_p99_ms", o.ack_latency.p99),
                    (
                        "epoch_publish_p50_ms",
                        o.publish_latency.map_or(f64::NAN, |p| p.p50),
                    ),
                    (
                        "epoch_publish_p99_ms",
                        o.publish_latency.map_or(f64::NAN, |p| p.p99),
                    ),
                ]
                .into_iter()
                .filter(|(_, v)| v.is_finite())
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
                codes: o.codes.clone(),
                failures: o.failures.clone(),
            });
        }
    }
    runs
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Fixed,
    Max,
    Many,
}

fn pick(outcomes: &[PhaseOutcome], f: impl Fn(&PhaseOutcome) -> f64) -> Vec<f64> {
    outcomes.iter().map(f).collect()
}

/// Frame sizes and who used the cores: without them a ratio to the bare hub could be a
/// ratio to the generator.
fn cost_metrics(scenario: &mut Scenario, outcomes: &Outcomes, backend: &str) {
    let (p, b, _) = outcomes;
    scenario.metric(
        &format!("delivered_frame_bytes{backend}"),
        &format!("Size of a delivered frame{}", label_suffix(backend)),
        "bytes",
        Better::Lower,
        &pick(p, |o| o.delivered_frame_bytes),
        &pick(b, |o| o.delivered_frame_bytes),
        None,
    );
    scenario.metric(
        &format!("server_cpu_percent{backend}"),
        &format!("CPU of the server during the run{}", label_suffix(backend)),
        "% of a core",
        Better::Lower,
        &pick(p, |o| o.cpu.server),
        &pick(b, |o| o.cpu.server),
        None,
    );
    scenario.metric(
        &format!("generator_cpu_percent{backend}"),
        &format!(
            "CPU of the generator during the run{}",
            label_suffix(backend)
        ),
        "% of a core",
        Better::Lower,
        &pick(p, |o| o.cpu.generator),
        &pick(b, |o| o.cpu.generator),
        None,
    );
}

fn label_suffix(backend: &str) -> String {
    match backend.strip_prefix('_') {
        Some("postgresql") => ", PostgreSQL".to_owned(),
        Some("sqlite") => ", SQLite".to_owned(),
        _ => String::new(),
    }
}

fn message_metrics(scenario: &mut Scenario, outcomes: &Outcomes, kind: Kind) {
    let (p, b, reference) = outcomes;
    scenario.metric(
        "acked_per_s",
        if kind == Kind::Fixed {
            "Messages acknowledged per second (1,000 offered)"
        } else {
            "Messages acknowledged per second"
        },
        "msg/s",
        Better::Higher,
        &pick(p, |o| o.acked_per_s),
        &pick(b, |o| o.acked_per_s),
        None,
    );
    let goal = (kind == Kind::Max).then_some(("≥ 100,000/s", 100_000.0, false));
    scenario.metric(
        "deliveries_per_s",
        "Deliveries per second",
        "/s",
        Better::Higher,
        &pick(p, |o| o.deliveries_per_s),
        &pick(b, |o| o.deliveries_per_s),
        goal,
    );
    if kind != Kind::Fixed {
        // Run by run: each Passerelle run against the bare hub run next to it.
        let ratios: Vec<f64> = p
            .iter()
            .zip(b)
            .filter(|(_, bare)| bare.deliveries_per_s > 0.0)
            .map(|(ours, bare)| ours.deliveries_per_s / bare.deliveries_per_s)
            .collect();
        scenario.metric(
            "deliveries_vs_bare",
            "Deliveries per second, Passerelle ÷ bare hub (run by run)",
            "ratio",
            Better::Higher,
            &ratios,
            &[],
            Some(if kind == Kind::Max {
                ("≥ 0.5× the bare hub", 0.5, false)
            } else {
                ("≥ 0.3× the bare hub", 0.3, false)
            }),
        );
    }
    if !reference.is_empty() {
        scenario.metric(
            "reference_deliveries_per_s",
            &format!(
                "Bare hub with {REFERENCE_FRAME}-byte frames: deliveries per second (the machine's reference)"
            ),
            "/s",
            Better::Higher,
            &[],
            &pick(reference, |o| o.deliveries_per_s),
            None,
        );
        scenario.metric(
            "reference_hub_cpu_percent",
            &format!("Bare hub with {REFERENCE_FRAME}-byte frames: CPU of the hub"),
            "% of a core",
            Better::Lower,
            &[],
            &pick(reference, |o| o.cpu.server),
            None,
        );
        scenario.metric(
            "reference_generator_cpu_percent",
            &format!("Bare hub with {REFERENCE_FRAME}-byte frames: CPU of the generator"),
            "% of a core",
            Better::Lower,
            &[],
            &pick(reference, |o| o.cpu.generator),
            None,
        );
    }
    scenario.metric(
        "latency_p50_ms",
        "Latency send → arrival, p50",
        "ms",
        Better::Lower,
        &pick(p, |o| o.latency.p50),
        &pick(b, |o| o.latency.p50),
        None,
    );
    scenario.metric(
        "latency_p99_ms",
        "Latency send → arrival, p99",
        "ms",
        Better::Lower,
        &pick(p, |o| o.latency.p99),
        &pick(b, |o| o.latency.p99),
        match kind {
            Kind::Fixed => Some(("≤ 5 ms", 5.0, false)),
            Kind::Many => Some(("≤ 200 ms", 200.0, false)),
            Kind::Max => None,
        },
    );
    scenario.metric(
        "latency_p999_ms",
        "Latency send → arrival, p99.9",
        "ms",
        Better::Lower,
        &pick(p, |o| o.latency.p999),
        &pick(b, |o| o.latency.p999),
        None,
    );
    if kind == Kind::Fixed {
        scenario.metric(
            "scheduled_p99_ms",
            "Latency from the scheduled send time, p99 (includes waiting for the next epoch key)",
            "ms",
            Better::Lower,
            &pick(p, |o| o.sched_latency.map_or(f64::NAN, |s| s.p99)),
            &pick(b, |o| o.sched_latency.map_or(f64::NAN, |s| s.p99)),
            None,
        );
    }
    scenario.metric(
        "ack_p99_ms",
        "Send → ack (committed), p99",
        "ms",
        Better::Lower,
        &pick(p, |o| o.ack_latency.p99),
        &pick(b, |o| o.ack_latency.p99),
        None,
    );
    scenario.metric(
        "epoch_publish_p50_ms",
        "Epoch key publication (HTTP round trip), p50",
        "ms",
        Better::Lower,
        &pick(p, |o| o.publish_latency.map_or(f64::NAN, |s| s.p50)),
        &[],
        None,
    );
    cost_metrics(scenario, outcomes, "");
    scenario.runs = details(outcomes);
}

fn durability_metrics(
    scenario: &mut Scenario,
    outcomes: &Outcomes,
    backend: &str,
    goal: (&str, f64),
) {
    let (p, b, _) = outcomes;
    scenario.metric(
        &format!("acked_per_s_{}", backend.to_lowercase()),
        &format!("Acknowledged messages per second, {backend}"),
        "msg/s",
        Better::Higher,
        &pick(p, |o| o.acked_per_s),
        &pick(b, |o| o.acked_per_s),
        Some((goal.0, goal.1, false)),
    );
    scenario.metric(
        &format!("ack_p99_ms_{}", backend.to_lowercase()),
        &format!("Send → ack (committed), p99, {backend}"),
        "ms",
        Better::Lower,
        &pick(p, |o| o.ack_latency.p99),
        &pick(b, |o| o.ack_latency.p99),
        None,
    );
    cost_metrics(scenario, outcomes, &format!("_{}", backend.to_lowercase()));
    let mut runs = details(outcomes);
    for run in &mut runs {
        run.target = format!("{} ({backend})", run.target);
    }
    scenario.runs.extend(runs);
}

/// A member of the fan-out channel reconnects and syncs the last `count` messages
/// with the SDK, as the app does after a night offline. Returns the messages received
/// and the seconds from the `sync` frame to `synced`.
async fn catch_up(
    people: &[Person],
    channel: &BenchChannel,
    count: u64,
    run: usize,
) -> Result<(u64, f64, RunDetail)> {
    let person = &people[channel.members[1]];
    let mut cursors: passerelle_shared::protocol::v1::channels::Cursors =
        population::last_seqs(person)
            .await?
            .into_iter()
            .map(|(channel, seq)| (channel.into(), seq))
            .collect();
    let last = cursors.get(channel.id.as_str()).copied().unwrap_or(0);
    let missed = count.min(last);
    cursors.insert(channel.id.clone().into(), last - missed);
    let mut connection = person.client.connect(&person.device.device_id).await?;
    connection.cursors = cursors;
    let started = Instant::now();
    connection.sync().await?;
    let mut received = 0u64;
    loop {
        match connection.next_within(Duration::from_secs(60)).await {
            Some(ServerFrame::Message(message)) => {
                received += connection.accept(message).len() as u64;
            }
            Some(ServerFrame::Synced { .. }) => break,
            Some(_) => {}
            None => bail!("the catch-up connection ended: {:?}", connection.closed),
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    connection.close().await;
    let mut failures = Vec::new();
    if received != missed {
        failures.push(format!("{received} of {missed} messages received"));
    }
    let detail = RunDetail {
        target: "Passerelle".into(),
        run,
        counts: [("messages".to_owned(), received as f64)]
            .into_iter()
            .collect(),
        codes: Default::default(),
        failures,
    };
    Ok((received, elapsed, detail))
}

#[allow(clippy::too_many_arguments)]
async fn postgres(
    bin: &Path,
    work: &Path,
    sizes: &Sizes,
    bare_process: &Process,
    http: &reqwest::Client,
    tag: &mut u32,
    began: Instant,
) -> Result<Outcomes> {
    let database = passerelle_tests::pg::TestDatabase::create()
        .await
        .context("PostgreSQL unreachable (PASSERELLE_TEST_DATABASE_URL)")?;
    let backend = Backend::new(work.join("postgres"), Some(database.url.clone()))?;
    let outcome = async {
        let log = work.join("passerelle-postgres.log");
        let (institution, password) = population::bootstrap(bin, &backend, ADMIN).await?;
        let server = Process::passerelle(bin, &backend, &log).await?;
        let admin = Arc::new(population::admin_client(&server.base(), ADMIN, &password).await?);
        let charter = population::publish_charter(&admin).await?;
        let people = population::create_people(
            &server.base(),
            admin,
            &institution,
            "banc.pg.",
            sizes.pg_people,
            charter,
        )
        .await?;
        let mut durable = population::create_channels(
            &people,
            &institution,
            "Notes",
            (0..people.len()).map(|p| vec![p]).collect(),
        )
        .await?;
        let passerelle = Target::open(
            "Passerelle",
            endpoints(&server.base(), &people),
            Some(PACING),
            Some(server.base()),
            server.pid,
        )
        .await?;
        let bare = Target::open(
            "bare hub",
            bare_endpoints(bare_process.addr, people.len(), &[&durable]),
            None,
            None,
            bare_process.pid,
        )
        .await?;
        let targets = Targets {
            passerelle: &passerelle,
            bare: &bare,
            http,
        };
        let outcomes = targets
            .runs(
                &people,
                &mut durable,
                1,
                Pace::Max,
                sizes.runs,
                tag,
                began,
                false,
            )
            .await;
        passerelle.close();
        bare.close();
        server.stop().await?;
        outcomes
    }
    .await;
    let dropped = database.drop_now().await;
    let outcomes = outcome?;
    dropped?;
    Ok(outcomes)
}
