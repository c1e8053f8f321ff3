//! EC2's bucket for endpoint mutations (CreateVpcEndpoint, ModifyVpcEndpoint and
//! DeleteVpcEndpoints share it: 4 calls of burst, refilled at 0.3 a second), kept on our side so a
//! pass over many links waits its turn instead of being throttled.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

pub const EC2_ENDPOINT_BURST: f64 = 4.0;
pub const EC2_ENDPOINT_REFILL_PER_S: f64 = 0.3;

pub struct Pacer {
    capacity: f64,
    per_s: f64,
    state: Mutex<(f64, Instant)>,
}

impl Pacer {
    pub fn new(capacity: f64, per_s: f64) -> Self {
        Pacer {
            capacity,
            per_s,
            state: Mutex::new((capacity, Instant::now())),
        }
    }

    /// AWS's bucket for endpoint mutations.
    pub fn ec2_endpoints() -> Self {
        Self::new(EC2_ENDPOINT_BURST, EC2_ENDPOINT_REFILL_PER_S)
    }

    /// How long until a token is free, taking it (the wait is the caller's to sleep).
    fn reserve(&self) -> Duration {
        let mut s = self.state.lock().unwrap();
        let now = Instant::now();
        let (tokens, last) = *s;
        let tokens =
            (tokens + now.duration_since(last).as_secs_f64() * self.per_s).min(self.capacity);
        let tokens = tokens - 1.0;
        *s = (tokens, now);
        if tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-tokens / self.per_s)
        }
    }

    /// Wait for a token.
    pub async fn take(&self) {
        let wait = self.reserve();
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn four_calls_go_at_once_then_one_every_3_3_seconds() {
        let pacer = Pacer::ec2_endpoints();
        let start = Instant::now();
        let mut at = Vec::new();
        for _ in 0..7 {
            pacer.take().await;
            at.push(start.elapsed().as_secs_f64());
        }
        assert_eq!(&at[..4], &[0.0; 4]);
        for (n, t) in at[4..].iter().enumerate() {
            let want = (n + 1) as f64 / EC2_ENDPOINT_REFILL_PER_S;
            assert!(
                (t - want).abs() < 0.01,
                "call {} at {t}, want {want}",
                n + 5
            );
        }
    }
}
