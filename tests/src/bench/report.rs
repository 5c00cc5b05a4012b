//! The results: `docs/bench/report.json`, the generated part of `docs/BENCH.md`
//! (between two markers, so that the analysis written around it survives a new run)
//! and `docs/bench/latency.svg`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;
use serde::Serialize;

use super::procs::Machine;
use super::stats::Spread;

/// Which way is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Better {
    /// Throughput.
    Higher,
    /// Latency, memory, time.
    Lower,
}

/// A target of issue 8.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Goal {
    /// As written in the issue.
    pub(crate) text: String,
    /// The bound.
    pub(crate) value: f64,
    /// Whether the bound applies to the ratio to the bare hub instead of the figure.
    pub(crate) on_ratio: bool,
}

/// Whether a target was met, and by how much it was missed.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Verdict {
    /// Met?
    pub(crate) met: bool,
    /// "met", or "missed by …".
    pub(crate) text: String,
}

/// One figure of a scenario.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Metric {
    /// Machine-readable name.
    pub(crate) key: String,
    /// What it is.
    pub(crate) label: String,
    /// Unit.
    pub(crate) unit: String,
    /// Which way is better.
    pub(crate) better: Better,
    /// Passerelle's runs.
    pub(crate) passerelle: Option<Spread>,
    /// The bare hub's runs, same generator, same run.
    pub(crate) bare: Option<Spread>,
    /// Passerelle's median divided by the bare hub's.
    pub(crate) ratio: Option<f64>,
    /// The issue's target, if there is one.
    pub(crate) goal: Option<Goal>,
    /// Met or missed.
    pub(crate) verdict: Option<Verdict>,
}

/// What one run of one target did (counts, refusals, failures).
#[derive(Clone, Debug, Serialize)]
pub(crate) struct RunDetail {
    /// "Passerelle" or "bare hub".
    pub(crate) target: String,
    /// Run number.
    pub(crate) run: usize,
    /// Counters.
    pub(crate) counts: BTreeMap<String, f64>,
    /// Error codes received.
    pub(crate) codes: BTreeMap<String, u64>,
    /// What went wrong.
    pub(crate) failures: Vec<String>,
}

/// A scenario and its figures.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Scenario {
    /// Machine-readable name.
    pub(crate) key: String,
    /// Title.
    pub(crate) title: String,
    /// What was done.
    pub(crate) description: String,
    /// Figures.
    pub(crate) metrics: Vec<Metric>,
    /// Per-run details.
    pub(crate) runs: Vec<RunDetail>,
}

impl Scenario {
    /// An empty scenario.
    pub(crate) fn new(key: &str, title: &str, description: String) -> Scenario {
        Scenario {
            key: key.into(),
            title: title.into(),
            description,
            metrics: Vec::new(),
            runs: Vec::new(),
        }
    }

    /// Adds a figure; `goal` is (text, bound, whether it bounds the ratio).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn metric(
        &mut self,
        key: &str,
        label: &str,
        unit: &str,
        better: Better,
        passerelle: &[f64],
        bare: &[f64],
        goal: Option<(&str, f64, bool)>,
    ) {
        let passerelle = Spread::of(passerelle);
        let bare = Spread::of(bare);
        let ratio = match (&passerelle, &bare) {
            (Some(p), Some(b)) if b.median != 0.0 => Some(p.median / b.median),
            _ => None,
        };
        let goal = goal.map(|(text, value, on_ratio)| Goal {
            text: text.into(),
            value,
            on_ratio,
        });
        let verdict = goal.as_ref().and_then(|goal| {
            let value = if goal.on_ratio {
                ratio?
            } else {
                passerelle.as_ref()?.median
            };
            Some(judge(value, goal.value, better))
        });
        self.metrics.push(Metric {
            key: key.into(),
            label: label.into(),
            unit: unit.into(),
            better,
            passerelle,
            bare,
            ratio,
            goal,
            verdict,
        });
    }
}

fn judge(value: f64, bound: f64, better: Better) -> Verdict {
    let met = match better {
        Better::Higher => value >= bound,
        Better::Lower => value <= bound,
    };
    let text = if met {
        "met".to_owned()
    } else {
        match better {
            Better::Higher => format!(
                "missed by {:.0} % ({} short)",
                (bound - value) / bound * 100.0,
                number(bound - value)
            ),
            Better::Lower if value > 2.0 * bound => {
                format!("missed: {:.1}× the bound", value / bound)
            }
            Better::Lower => format!("missed by {:.0} %", (value - bound) / bound * 100.0),
        }
    };
    Verdict { met, text }
}

/// The whole report.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Report {
    /// When (UTC).
    pub(crate) generated_at: String,
    /// "quick" or "full".
    pub(crate) mode: String,
    /// Runs per scenario.
    pub(crate) runs: usize,
    /// Total duration of the benchmark, seconds.
    pub(crate) duration_s: f64,
    /// The machine.
    pub(crate) machine: Machine,
    /// Sizes used.
    pub(crate) sizes: BTreeMap<String, f64>,
    /// Scenarios, in order.
    pub(crate) scenarios: Vec<Scenario>,
    /// Anything the reader must know.
    pub(crate) notes: Vec<String>,
}

/// Formats a figure for a table: thousands separated, decimals where they matter.
pub(crate) fn number(value: f64) -> String {
    if !value.is_finite() {
        return "–".into();
    }
    let abs = value.abs();
    if abs >= 1000.0 {
        let rounded = value.round() as i64;
        let digits = rounded.unsigned_abs().to_string();
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push('\u{202f}');
            }
            out.push(c);
        }
        if rounded < 0 {
            out.insert(0, '-');
        }
        out
    } else if abs >= 100.0 {
        format!("{value:.0}")
    } else if abs >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

fn spread_cell(spread: &Option<Spread>) -> String {
    match spread {
        Some(s) if s.runs.len() > 1 => {
            format!("{} ({}–{})", number(s.median), number(s.min), number(s.max))
        }
        Some(s) => number(s.median),
        None => "–".into(),
    }
}

/// The generated Markdown: machine, sizes, the table, notes.
pub(crate) fn markdown(report: &Report) -> String {
    let mut md = String::new();
    let m = &report.machine;
    let _ = writeln!(
        md,
        "Generated by `passerelle-bench{}` on {} ({} runs per scenario, median with min–max; \
         {:.0} s in all). Commit {}.\n",
        if report.mode == "quick" {
            " --quick"
        } else {
            ""
        },
        report.generated_at,
        report.runs,
        report.duration_s,
        m.commit
    );
    let _ = writeln!(
        md,
        "**Machine.** {} × {}, {} MiB of memory, {}, kernel {}; data on {}; {}. \
         The generator, Passerelle and the bare hub share these cores (load average \
         {} when the run started).\n",
        m.cores, m.cpu, m.memory_mib, m.os, m.kernel, m.storage, m.rustc, m.load_at_start
    );
    let sizes: Vec<String> = report
        .sizes
        .iter()
        .map(|(k, v)| {
            if v.fract() == 0.0 && *v < 1000.0 {
                format!("{k} = {v:.0}")
            } else {
                format!("{k} = {}", number(*v))
            }
        })
        .collect();
    let _ = writeln!(md, "**Sizes.** {}.\n", sizes.join(", "));
    let _ = writeln!(
        md,
        "| Scenario | Figure | Passerelle | Bare hub | Passerelle ÷ bare | Target | Verdict |"
    );
    let _ = writeln!(md, "|---|---|---:|---:|---:|---|---|");
    for scenario in &report.scenarios {
        let mut first = true;
        for metric in &scenario.metrics {
            let name = if first {
                format!("**{}**", scenario.title)
            } else {
                String::new()
            };
            first = false;
            let ratio = metric.ratio.map_or("–".into(), |r| {
                if r < 0.1 {
                    format!("{r:.3}×")
                } else {
                    format!("{}×", number(r))
                }
            });
            let goal = metric
                .goal
                .as_ref()
                .map_or(String::new(), |g| g.text.clone());
            let verdict = metric.verdict.as_ref().map_or(String::new(), |v| {
                if v.met {
                    "✅ met".into()
                } else {
                    format!("❌ {}", v.text)
                }
            });
            let _ = writeln!(
                md,
                "| {name} | {} ({}) | {} | {} | {ratio} | {goal} | {verdict} |",
                metric.label,
                metric.unit,
                spread_cell(&metric.passerelle),
                spread_cell(&metric.bare),
            );
        }
    }
    md.push('\n');
    for scenario in &report.scenarios {
        let _ = writeln!(md, "- **{}**: {}", scenario.title, scenario.description);
    }
    if !report.notes.is_empty() {
        md.push('\n');
        for note in &report.notes {
            let _ = writeln!(md, "> {note}\n");
        }
    }
    md.push_str("\n![Latency histogram](bench/latency.svg)\n");
    md
}

const BEGIN: &str = "<!-- passerelle-bench:begin (generated; edit outside these markers) -->";
const END: &str = "<!-- passerelle-bench:end -->";

fn how_to_run() -> &'static str {
    "# Benchmark\n\n\
     How fast Passerelle relays, stores and delivers end-to-end-encrypted messages on one \
     machine, against a bare WebSocket hub measured in the same run (issue 8).\n\n\
     ## How to run\n\n\
     ```sh\n\
     cargo build --release -p passerelle-server -p passerelle-tests\n\
     target/release/passerelle-bench --quick   # about two minutes\n\
     target/release/passerelle-bench           # the full run, under fifteen minutes\n\
     ```\n\n\
     It needs PostgreSQL for one figure (`PASSERELLE_TEST_DATABASE_URL`, default \
     `postgres://postgres@127.0.0.1:5432/postgres`; `--no-postgres` skips it). It writes \
     this file's table, `docs/bench/report.json` and `docs/bench/latency.svg`; \
     `--dry-run` only prints. Nothing of it runs under `cargo test`.\n\n\
     ## Results\n\n"
}

/// Writes the JSON, the SVG and the generated part of BENCH.md under `out_dir`.
pub(crate) fn write(out_dir: &Path, report: &Report, svg: Option<&str>) -> Result<()> {
    let bench_dir = out_dir.join("bench");
    std::fs::create_dir_all(&bench_dir)?;
    std::fs::write(
        bench_dir.join("report.json"),
        serde_json::to_string_pretty(report)? + "\n",
    )?;
    if let Some(svg) = svg {
        std::fs::write(bench_dir.join("latency.svg"), svg)?;
    }
    let path = out_dir.join("BENCH.md");
    let generated = format!("{BEGIN}\n{}{END}", markdown(report));
    let existing = std::fs::read_to_string(&path).unwrap_or_default();
    let text = match (existing.find(BEGIN), existing.find(END)) {
        (Some(begin), Some(end)) if end > begin => format!(
            "{}{generated}{}",
            &existing[..begin],
            &existing[end + END.len()..]
        ),
        _ => format!("{}{generated}\n", how_to_run()),
    };
    std::fs::write(path, text)?;
    Ok(())
}

/// A latency histogram: one line per series, log-spaced buckets from 10 µs to 10 s,
/// the share of deliveries in each bucket. Series are (name, colour, samples in µs).
pub(crate) fn latency_svg(title: &str, series: &[(&str, &str, &[u32])]) -> String {
    const WIDTH: f64 = 760.0;
    const HEIGHT: f64 = 380.0;
    const LEFT: f64 = 60.0;
    const RIGHT: f64 = 20.0;
    const TOP: f64 = 40.0;
    const BOTTOM: f64 = 50.0;
    const PER_DECADE: usize = 10;
    const DECADES: usize = 6; // 10 µs … 10 s
    let buckets = PER_DECADE * DECADES;
    let bucket_of = |micros: u32| -> usize {
        let v = f64::from(micros.max(1)).log10() - 1.0; // log10(µs) - log10(10 µs)
        ((v * PER_DECADE as f64).floor().max(0.0) as usize).min(buckets - 1)
    };
    let shares: Vec<Vec<f64>> = series
        .iter()
        .map(|(_, _, samples)| {
            let mut counts = vec![0u64; buckets];
            for s in samples.iter() {
                counts[bucket_of(*s)] += 1;
            }
            let total = samples.len().max(1) as f64;
            counts.iter().map(|c| *c as f64 / total * 100.0).collect()
        })
        .collect();
    let top = shares
        .iter()
        .flatten()
        .copied()
        .fold(1.0_f64, f64::max)
        .ceil();
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let x_of = |bucket: f64| LEFT + bucket / buckets as f64 * plot_w;
    let y_of = |share: f64| TOP + plot_h - share / top * plot_h;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="14">{}</text>"#,
        WIDTH / 2.0,
        escape(title)
    );
    let labels = ["10 µs", "100 µs", "1 ms", "10 ms", "100 ms", "1 s", "10 s"];
    for (decade, label) in labels.iter().enumerate() {
        let x = x_of((decade * PER_DECADE) as f64);
        let _ = writeln!(
            svg,
            r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{:.1}" stroke="#ddd"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{label}</text>"##,
            TOP + plot_h,
            TOP + plot_h + 18.0
        );
    }
    let steps = 4;
    for step in 0..=steps {
        let share = top * step as f64 / steps as f64;
        let y = y_of(share);
        let _ = writeln!(
            svg,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#eee"/><text x="{:.1}" y="{:.1}" text-anchor="end">{share:.0} %</text>"##,
            LEFT + plot_w,
            LEFT - 6.0,
            y + 4.0
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">send → arrival at each recipient (log scale)</text>"#,
        LEFT + plot_w / 2.0,
        HEIGHT - 10.0
    );
    let _ = writeln!(
        svg,
        r#"<text x="14" y="{:.1}" transform="rotate(-90 14 {:.1})" text-anchor="middle">share of deliveries</text>"#,
        TOP + plot_h / 2.0,
        TOP + plot_h / 2.0
    );
    for (i, ((name, colour, samples), share)) in series.iter().zip(&shares).enumerate() {
        let mut points = String::new();
        for (bucket, value) in share.iter().enumerate() {
            let _ = write!(
                points,
                "{:.1},{:.1} {:.1},{:.1} ",
                x_of(bucket as f64),
                y_of(*value),
                x_of(bucket as f64 + 1.0),
                y_of(*value)
            );
        }
        let _ = writeln!(
            svg,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"/>"#,
            points.trim_end()
        );
        let mut sorted = samples.to_vec();
        let p = super::stats::Percentiles::of_micros(&mut sorted);
        let y = TOP + 16.0 + 18.0 * i as f64;
        let _ = writeln!(
            svg,
            r#"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{colour}" stroke-width="3"/><text x="{:.1}" y="{:.1}">{} — p50 {} ms, p99 {} ms, p99.9 {} ms ({} deliveries)</text>"#,
            LEFT + plot_w - 330.0,
            y - 4.0,
            LEFT + plot_w - 310.0,
            y - 4.0,
            LEFT + plot_w - 304.0,
            y,
            escape(name),
            number(p.p50),
            number(p.p99),
            number(p.p999),
            number(p.count as f64)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_readable() {
        assert_eq!(number(1_234_567.4), "1\u{202f}234\u{202f}567");
        assert_eq!(number(12.345), "12.3");
        assert_eq!(number(0.8), "0.80");
    }

    #[test]
    fn a_missed_target_says_by_how_much() {
        assert_eq!(
            judge(80.0, 100.0, Better::Higher).text,
            "missed by 20 % (20.0 short)"
        );
        assert!(judge(5.0, 10.0, Better::Lower).met);
        assert_eq!(
            judge(30.0, 10.0, Better::Lower).text,
            "missed: 3.0× the bound"
        );
    }
}
