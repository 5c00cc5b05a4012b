//! The load generator's parts, each with one job.
//!
//! - [`procs`]: starting and stopping server processes, reading their memory and CPU
//!   from `/proc`, describing the machine;
//! - [`bare`]: the bare broadcast hub, the stand-in for what this machine can do;
//! - [`population`]: accounts, logins with TOTP, enrolled devices, channels, and the
//!   sealed envelopes and epoch keys of each run (prepared before the timed phase);
//! - [`load`]: the WebSocket connections and the timed phases that drive them;
//! - [`stats`]: percentiles and the median of runs;
//! - [`scenarios`]: what is measured, in which order;
//! - [`report`]: the JSON report, the Markdown table and the latency histogram;
//! - [`login_timing`]: whether a wrong password and an unknown login take the same time.

pub(crate) mod bare;
pub(crate) mod load;
pub(crate) mod login_timing;
pub(crate) mod population;
pub(crate) mod procs;
pub(crate) mod report;
pub(crate) mod scenarios;
pub(crate) mod stats;
