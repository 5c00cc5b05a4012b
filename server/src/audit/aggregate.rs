//! Bounded logging of the refusals anyone can provoke (docs/AUDIT.md, "Bounded logging").
//!
//! A client without an account can send requests as fast as the network carries them;
//! if each refusal were its own event, the access log would be a way to fill the disk
//! (a probe wrote 558 rows a second). So the refusals of anonymous clients are grouped
//! per minute, per source address, action, reason and path (or target): the first
//! [`INDIVIDUAL`] of a group are recorded as usual, as they happen, and the rest are
//! *counted*, then written as one event with `"count": n` when the minute is over (or
//! when the log is checkpointed, e.g. at shutdown). Nothing is dropped: the sum of the
//! counts is the number of refusals.
//!
//! Memory and rows stay bounded whatever the client varies: beyond [`PATHS_PER_GROUP`]
//! distinct paths for one source, action and reason, further paths share one group
//! (without a path); beyond [`MAX_GROUPS`] groups in all, further sources share one group
//! per action and reason (without an address, marked `"overflow": true`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use serde_json::{json, Value};

use super::{Actor, Event, Outcome};
use crate::metrics::Metrics;

/// Refusals of one group recorded one by one in a minute, before they are counted.
pub const INDIVIDUAL: u32 = 5;
/// Distinct paths (or targets) of one source, action and reason that get groups of their
/// own in a minute.
pub const PATHS_PER_GROUP: usize = 32;
/// Groups kept in memory at once; beyond, sources are merged.
pub const MAX_GROUPS: usize = 10_000;
/// Longest path kept in a group's key and event.
const MAX_PATH: usize = 200;

const MINUTE_MS: i64 = 60_000;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    minute: i64,
    ip: Option<IpAddr>,
    action: &'static str,
    reason: String,
    /// The target, or the request's path when there is no target.
    about: Option<About>,
    /// Sources merged because there were too many.
    overflow: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum About {
    Target(String),
    Path(String),
}

#[derive(Clone, Copy, Debug, Default)]
struct Bucket {
    /// Refusals recorded one by one this minute.
    written: u32,
    /// Refusals counted and not yet written.
    pending: u64,
    first_ms: i64,
    last_ms: i64,
}

#[derive(Default)]
struct Groups {
    buckets: HashMap<Key, Bucket>,
    /// Distinct paths per (minute, source, action, reason).
    paths: HashMap<(i64, Option<IpAddr>, &'static str, String), usize>,
}

/// What to do with a refusal.
pub(crate) enum Decision {
    /// Record it now, as an event of its own.
    Record(Event),
    /// Counted; it will be part of a count event.
    Counted,
}

/// A count event waiting to be written, with what is needed to put it back if writing
/// fails (the count must not be lost).
pub(crate) struct Summary {
    key: Key,
    bucket: Bucket,
}

impl Summary {
    /// The event that records the count.
    pub(crate) fn event(&self) -> Event {
        let mut details = json!({
            "reason": self.key.reason,
            "count": self.bucket.pending,
            "aggregated": true,
            "first_ms": self.bucket.first_ms,
            "last_ms": self.bucket.last_ms,
        });
        let mut target = None;
        match &self.key.about {
            Some(About::Path(path)) => details["path"] = Value::from(path.clone()),
            Some(About::Target(t)) => target = Some(t.clone()),
            None => {}
        }
        if self.key.overflow {
            details["overflow"] = Value::Bool(true);
        }
        Event {
            actor: Actor {
                ip: self.key.ip,
                ..Actor::default()
            },
            action: self.key.action,
            target,
            outcome: Outcome::Denied,
            details,
        }
    }

    /// How many refusals it counts.
    pub(crate) fn count(&self) -> u64 {
        self.bucket.pending
    }
}

/// The groups of the current and recent minutes.
pub(crate) struct Aggregator {
    groups: Mutex<Groups>,
    metrics: std::sync::Arc<Metrics>,
}

impl Aggregator {
    pub(crate) fn new(metrics: std::sync::Arc<Metrics>) -> Aggregator {
        Aggregator {
            groups: Mutex::new(Groups::default()),
            metrics,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Groups> {
        self.groups
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Decides whether `event`, a refusal, is recorded now or counted.
    pub(crate) fn admit(&self, event: Event, now_ms: i64) -> Decision {
        let minute = now_ms.div_euclid(MINUTE_MS);
        let reason = event
            .details
            .get("reason")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .chars()
            .take(64)
            .collect::<String>();
        let about = match (
            &event.target,
            event.details.get("path").and_then(Value::as_str),
        ) {
            (Some(target), _) => Some(About::Target(truncate(target))),
            (None, Some(path)) => Some(About::Path(truncate(path))),
            (None, None) => None,
        };
        let mut groups = self.lock();
        let mut key = Key {
            minute,
            ip: event.actor.ip,
            action: event.action,
            reason,
            about,
            overflow: false,
        };
        if !groups.buckets.contains_key(&key) && groups.buckets.len() >= MAX_GROUPS {
            key.ip = None;
            key.about = None;
            key.overflow = true;
            self.metrics.audit_refusal_sources_merged.inc();
        }
        if key.about.is_some() && !groups.buckets.contains_key(&key) {
            let group = (key.minute, key.ip, key.action, key.reason.clone());
            let paths = groups.paths.entry(group).or_default();
            if *paths >= PATHS_PER_GROUP {
                key.about = None;
            } else {
                *paths += 1;
            }
        }
        let bucket = groups.buckets.entry(key).or_insert(Bucket {
            first_ms: now_ms,
            ..Bucket::default()
        });
        if bucket.written < INDIVIDUAL {
            bucket.written += 1;
            return Decision::Record(event);
        }
        if bucket.pending == 0 {
            bucket.first_ms = now_ms;
        }
        bucket.pending += 1;
        bucket.last_ms = now_ms;
        self.metrics.audit_refusals_counted.inc();
        self.metrics.audit_refusals_pending.inc();
        Decision::Counted
    }

    /// Takes the counts to write: those of minutes before `now_ms`'s, or all of them
    /// (`all`, at a checkpoint). Groups of past minutes are forgotten.
    pub(crate) fn take(&self, now_ms: i64, all: bool) -> Vec<Summary> {
        let minute = now_ms.div_euclid(MINUTE_MS);
        let mut groups = self.lock();
        let mut out = Vec::new();
        groups.buckets.retain(|key, bucket| {
            let past = key.minute < minute;
            if (past || all) && bucket.pending > 0 {
                out.push(Summary {
                    key: key.clone(),
                    bucket: *bucket,
                });
                bucket.pending = 0;
            }
            !past
        });
        groups.paths.retain(|group, _| group.0 >= minute);
        out
    }

    /// The count was written: it is no longer pending.
    pub(crate) fn written(&self, summary: &Summary) {
        self.metrics.audit_refusal_count_events.inc();
        self.metrics
            .audit_refusals_pending
            .dec_by(i64::try_from(summary.count()).unwrap_or(i64::MAX));
    }

    /// Writing the count failed: it goes back, to be written with the next ones.
    pub(crate) fn put_back(&self, summary: Summary) {
        let mut groups = self.lock();
        let bucket = groups.buckets.entry(summary.key).or_insert(Bucket {
            written: INDIVIDUAL,
            first_ms: summary.bucket.first_ms,
            ..Bucket::default()
        });
        if bucket.pending == 0 {
            bucket.first_ms = summary.bucket.first_ms;
        }
        bucket.pending += summary.bucket.pending;
        bucket.last_ms = bucket.last_ms.max(summary.bucket.last_ms);
    }

    /// Refusals counted and not yet written.
    pub(crate) fn pending(&self) -> u64 {
        self.lock().buckets.values().map(|b| b.pending).sum()
    }
}

fn truncate(text: &str) -> String {
    text.chars().take(MAX_PATH).collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn refusal(ip: u8, path: &str) -> Event {
        Event {
            actor: Actor {
                ip: Some(IpAddr::from([10, 0, 0, ip])),
                ..Actor::default()
            },
            action: "request_unauthenticated",
            target: None,
            outcome: Outcome::Denied,
            details: json!({ "reason": "unauthenticated", "path": path }),
        }
    }

    fn run(aggregator: &Aggregator, events: impl Iterator<Item = Event>, now: i64) -> u64 {
        let mut recorded = 0;
        for event in events {
            if let Decision::Record(_) = aggregator.admit(event, now) {
                recorded += 1;
            }
        }
        recorded
    }

    #[test]
    fn a_flood_is_recorded_a_few_times_then_counted_and_nothing_is_lost() {
        let aggregator = Aggregator::new(Arc::new(Metrics::new()));
        let recorded = run(
            &aggregator,
            (0..10_000).map(|_| refusal(1, "/api/v1/me")),
            120_000,
        );
        assert_eq!(recorded, u64::from(INDIVIDUAL));
        assert!(
            aggregator.take(120_000, false).is_empty(),
            "minute not over"
        );
        let summaries = aggregator.take(180_000, false);
        assert_eq!(summaries.len(), 1);
        assert_eq!(summaries[0].count(), 10_000 - u64::from(INDIVIDUAL));
        let event = summaries[0].event();
        assert_eq!(event.details["count"], 10_000 - u64::from(INDIVIDUAL));
        assert_eq!(event.details["path"], "/api/v1/me");
        assert_eq!(aggregator.pending(), 0);
    }

    #[test]
    fn varying_paths_or_addresses_still_bounds_the_rows() {
        let aggregator = Aggregator::new(Arc::new(Metrics::new()));
        let recorded = run(
            &aggregator,
            (0..10_000).map(|i| refusal(1, &format!("/p/{i}"))),
            0,
        );
        let summaries = aggregator.take(0, true);
        let counted: u64 = summaries.iter().map(Summary::count).sum();
        assert_eq!(recorded + counted, 10_000);
        assert!(recorded + summaries.len() as u64 <= 34 * u64::from(INDIVIDUAL) + 34);

        let aggregator = Aggregator::new(Arc::new(Metrics::new()));
        let mut recorded = 0;
        for i in 0..(MAX_GROUPS + 5_000) {
            let mut event = refusal(0, "/x");
            event.actor.ip = Some(IpAddr::from(std::net::Ipv6Addr::from(i as u128)));
            if let Decision::Record(_) = aggregator.admit(event, 0) {
                recorded += 1;
            }
        }
        let summaries = aggregator.take(0, true);
        let counted: u64 = summaries.iter().map(Summary::count).sum();
        assert_eq!(recorded + counted, (MAX_GROUPS + 5_000) as u64);
        assert!(summaries
            .iter()
            .all(|s| s.event().details["overflow"] == true));
    }

    #[test]
    fn a_count_that_could_not_be_written_is_written_later() {
        let aggregator = Aggregator::new(Arc::new(Metrics::new()));
        run(&aggregator, (0..20).map(|_| refusal(1, "/a")), 0);
        let mut summaries = aggregator.take(0, true);
        assert_eq!(aggregator.pending(), 0);
        aggregator.put_back(summaries.remove(0));
        assert_eq!(aggregator.pending(), 20 - u64::from(INDIVIDUAL));
        run(&aggregator, (0..3).map(|_| refusal(1, "/a")), 1);
        let again = aggregator.take(60_000, false);
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].count(), 23 - u64::from(INDIVIDUAL));
    }
}
