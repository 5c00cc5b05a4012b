//! Login throttling (CHARTER.md C15): failed attempts counted per client address and per
//! login over a 15-minute window.
//!
//! Real accounts are locked in the database after `lockout_threshold` consecutive
//! failures. Logins that do not exist are "locked" here, in memory, after the same number
//! of failures, so that an attacker cannot tell them apart from real ones.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

const WINDOW_MS: i64 = 15 * 60 * 1000;
/// Beyond this many tracked keys, expired windows are pruned so memory stays bounded.
const PRUNE_ABOVE: usize = 10_000;

#[derive(Clone, Copy, Debug)]
struct Window {
    started_ms: i64,
    failures: u32,
}

/// Failed-attempt counters.
#[derive(Debug)]
pub struct Throttle {
    per_ip_limit: u32,
    unknown_login_lockout: u32,
    windows: Mutex<HashMap<String, Window>>,
}

impl Throttle {
    /// `per_ip_limit` failures per window per address; unknown logins "lock" after
    /// `unknown_login_lockout` failures, like real accounts.
    pub fn new(per_ip_limit: u32, unknown_login_lockout: u32) -> Throttle {
        Throttle {
            per_ip_limit,
            unknown_login_lockout,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Whether this address has used up its failed attempts.
    pub fn ip_blocked(&self, ip: Option<IpAddr>, now_ms: i64) -> bool {
        let Some(ip) = ip else { return false };
        self.failures(&format!("ip:{ip}"), now_ms) >= self.per_ip_limit
    }

    /// Whether an unknown login should now answer as a locked account would.
    pub fn unknown_login_locked(&self, login: &str, now_ms: i64) -> bool {
        self.failures(&format!("login:{login}"), now_ms) >= self.unknown_login_lockout
    }

    /// Counts one failure for the address and the login.
    pub fn record_failure(&self, ip: Option<IpAddr>, login: &str, now_ms: i64) {
        let mut windows = match self.windows.lock() {
            Ok(windows) => windows,
            Err(poisoned) => poisoned.into_inner(),
        };
        if windows.len() > PRUNE_ABOVE {
            windows.retain(|_, window| now_ms - window.started_ms < WINDOW_MS);
        }
        let mut keys = vec![format!("login:{login}")];
        if let Some(ip) = ip {
            keys.push(format!("ip:{ip}"));
        }
        for key in keys {
            let window = windows.entry(key).or_insert(Window {
                started_ms: now_ms,
                failures: 0,
            });
            if now_ms - window.started_ms >= WINDOW_MS {
                *window = Window {
                    started_ms: now_ms,
                    failures: 0,
                };
            }
            window.failures = window.failures.saturating_add(1);
        }
    }

    /// Forgets a login's failures (an admin unlocked it, or it logged in).
    pub fn clear_login(&self, login: &str) {
        let mut windows = match self.windows.lock() {
            Ok(windows) => windows,
            Err(poisoned) => poisoned.into_inner(),
        };
        windows.remove(&format!("login:{login}"));
    }

    fn failures(&self, key: &str, now_ms: i64) -> u32 {
        let windows = match self.windows.lock() {
            Ok(windows) => windows,
            Err(poisoned) => poisoned.into_inner(),
        };
        match windows.get(key) {
            Some(window) if now_ms - window.started_ms < WINDOW_MS => window.failures,
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_blocked_after_its_limit_and_freed_after_the_window() {
        let throttle = Throttle::new(3, 5);
        let ip = Some(IpAddr::from([10, 0, 0, 1]));
        for i in 0..3 {
            assert!(!throttle.ip_blocked(ip, 1000));
            throttle.record_failure(ip, &format!("user{i}"), 1000);
        }
        assert!(throttle.ip_blocked(ip, 1000));
        assert!(!throttle.ip_blocked(Some(IpAddr::from([10, 0, 0, 2])), 1000));
        assert!(!throttle.ip_blocked(ip, 1000 + WINDOW_MS));
    }

    #[test]
    fn an_unknown_login_locks_like_a_real_account() {
        let throttle = Throttle::new(100, 2);
        throttle.record_failure(None, "ghost", 0);
        assert!(!throttle.unknown_login_locked("ghost", 0));
        throttle.record_failure(None, "ghost", 0);
        assert!(throttle.unknown_login_locked("ghost", 0));
        throttle.clear_login("ghost");
        assert!(!throttle.unknown_login_locked("ghost", 0));
    }
}
