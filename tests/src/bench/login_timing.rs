//! Whether a wrong password and an unknown login take the same time (issue 16, item 6):
//! the same server answers both, interleaved, and a Mann-Whitney U test compares the two
//! distributions of latencies. A timing check, so a benchmark and not a test: it needs a
//! quiet machine and a release build to mean anything.
//!
//! ```text
//! target/release/passerelle-bench login-timing --tries 200
//! ```

use std::time::Instant;

use anyhow::Context;
use passerelle_shared::protocol::v1::Role;
use passerelle_tests::TestServer;

/// Latencies (ms) of `tries` wrong-password attempts on a real account and as many on
/// logins that exist nowhere, interleaved; prints medians and the test's p-value, and
/// fails when p < 0.01 (the two are told apart).
pub(crate) async fn run(tries: usize) -> anyhow::Result<()> {
    let server = TestServer::spawn_with(|config| {
        // Neither the address throttle nor the lock-out may answer early here: both
        // paths must reach the password check every time.
        config.ip_attempts_per_window = u32::MAX;
        config.lockout_threshold = u32::MAX;
    })
    .await?;
    server
        .create_user("mesure.reelle", Role::Member, "CCAS")
        .await?;
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    for i in 0..tries {
        for (login, into) in [
            ("mesure.reelle".to_owned(), &mut known),
            (format!("mesure.absente{i}"), &mut unknown),
        ] {
            let started = Instant::now();
            let response = server
                .password_step(&login, "pas le bon mot de passe")
                .await?;
            into.push(started.elapsed().as_secs_f64() * 1000.0);
            anyhow::ensure!(
                response.status() == reqwest::StatusCode::UNAUTHORIZED,
                "unexpected answer {} for {login}",
                response.status()
            );
        }
    }
    let p = mann_whitney_p(&known, &unknown).context("no samples")?;
    println!(
        "login timing over {tries} tries each: wrong password median {:.2} ms, unknown login median {:.2} ms, Mann-Whitney p = {p:.4}",
        median(&known),
        median(&unknown)
    );
    anyhow::ensure!(
        p >= 0.01,
        "a wrong password and an unknown login are told apart by their timing (p = {p:.4})"
    );
    Ok(())
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Two-sided p-value of the Mann-Whitney U test (normal approximation with ties
/// averaged; fine from a few dozen samples each).
fn mann_whitney_p(a: &[f64], b: &[f64]) -> Option<f64> {
    if a.is_empty() || b.is_empty() {
        return None;
    }
    let mut all: Vec<(f64, bool)> = a
        .iter()
        .map(|v| (*v, true))
        .chain(b.iter().map(|v| (*v, false)))
        .collect();
    all.sort_by(|x, y| x.0.total_cmp(&y.0));
    let mut rank_a = 0.0;
    let mut i = 0;
    while i < all.len() {
        let mut j = i;
        while j + 1 < all.len() && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        rank_a += all[i..=j].iter().filter(|(_, in_a)| *in_a).count() as f64 * rank;
        i = j + 1;
    }
    let (n1, n2) = (a.len() as f64, b.len() as f64);
    let u = rank_a - n1 * (n1 + 1.0) / 2.0;
    let mean = n1 * n2 / 2.0;
    let sd = (n1 * n2 * (n1 + n2 + 1.0) / 12.0).sqrt();
    let z = ((u - mean).abs() - 0.5).max(0.0) / sd;
    Some(2.0 * (1.0 - standard_normal_cdf(z)))
}

/// Φ(z), from the complementary error function (Abramowitz and Stegun 7.1.26).
fn standard_normal_cdf(z: f64) -> f64 {
    let x = z / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x.abs());
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erf = 1.0 - poly * (-x * x).exp();
    let erf = if x >= 0.0 { erf } else { -erf };
    0.5 * (1.0 + erf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_test_tells_shifted_samples_apart_and_not_equal_ones() {
        let a: Vec<f64> = (0..100).map(f64::from).collect();
        let same: Vec<f64> = (0..100).map(|v| f64::from(v) + 0.5).collect();
        let shifted: Vec<f64> = (0..100).map(|v| f64::from(v) + 40.0).collect();
        assert!(mann_whitney_p(&a, &same).unwrap() > 0.5);
        assert!(mann_whitney_p(&a, &shifted).unwrap() < 0.001);
        assert!((standard_normal_cdf(1.96) - 0.975).abs() < 1e-3);
    }
}
