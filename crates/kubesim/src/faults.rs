//! Faults a test can switch on per cluster at run time: added latency, a share of
//! requests failing with 500/429/503, the cluster unreachable (its connections are closed
//! without an answer, and a per-cluster listener refuses new ones; see [`crate::listen`]),
//! plus the watch controls of [`Cluster`].
//!
//! [`Cluster`]: crate::Cluster

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The faults active on one cluster.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Faults {
    /// Added to every API request, in milliseconds.
    pub latency_ms: u64,
    /// Share of API requests (0.0–1.0) answered with `error_code` instead.
    pub error_rate: f64,
    /// 500, 429 or 503.
    pub error_code: u16,
    /// Connections to the cluster are closed without an answer (and its own listener, if it
    /// has one, refuses connections) until it is reachable again.
    pub unreachable: bool,
}

/// A change to a cluster's faults (the body of `POST /clusters/<name>/_kubesim/faults`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct FaultChange {
    /// New latency in milliseconds.
    pub latency_ms: Option<u64>,
    /// New error share.
    pub error_rate: Option<f64>,
    /// New error code.
    pub error_code: Option<u16>,
    /// Make the cluster unreachable (true) or reachable again (false).
    pub unreachable: Option<bool>,
    /// End every open watch now.
    pub drop_watches: bool,
    /// Make the next watch fail with 410 Expired.
    pub expire_next_watch: bool,
    /// Drop the event log: older resourceVersions answer 410.
    pub compact: bool,
    /// Clear every fault first.
    pub clear: bool,
}

impl Faults {
    /// Apply a change; invalid values are refused with a message.
    pub fn apply(&mut self, change: &FaultChange) -> Result<(), String> {
        if change.clear {
            *self = Faults::default();
        }
        if let Some(l) = change.latency_ms {
            self.latency_ms = l;
        }
        if let Some(r) = change.error_rate {
            if !(0.0..=1.0).contains(&r) {
                return Err(format!("errorRate must be between 0 and 1, got {r}"));
            }
            self.error_rate = r;
        }
        if let Some(c) = change.error_code {
            if ![500, 429, 503].contains(&c) {
                return Err(format!("errorCode must be 500, 429 or 503, got {c}"));
            }
            self.error_code = c;
        }
        if self.error_rate > 0.0 && self.error_code == 0 {
            self.error_code = 500;
        }
        if let Some(u) = change.unreachable {
            self.unreachable = u;
        }
        Ok(())
    }

    /// The added latency.
    pub fn latency(&self) -> Duration {
        Duration::from_millis(self.latency_ms)
    }

    /// Whether this request should fail (decided by a uniform draw in `0..1`).
    pub fn fails(&self, draw: f64) -> bool {
        self.error_rate > 0.0 && draw < self.error_rate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_validate_and_clear() {
        let mut f = Faults::default();
        f.apply(&FaultChange {
            error_rate: Some(0.5),
            ..Default::default()
        })
        .expect("valid");
        assert_eq!(
            f.error_code, 500,
            "an error share without a code fails with 500"
        );
        assert!(f.fails(0.1) && !f.fails(0.9));
        assert!(
            f.apply(&FaultChange {
                error_code: Some(404),
                ..Default::default()
            })
            .is_err()
        );
        assert!(
            f.apply(&FaultChange {
                error_rate: Some(1.5),
                ..Default::default()
            })
            .is_err()
        );
        f.apply(&FaultChange {
            clear: true,
            latency_ms: Some(20),
            ..Default::default()
        })
        .expect("valid");
        assert_eq!(
            f,
            Faults {
                latency_ms: 20,
                ..Default::default()
            }
        );
    }
}
