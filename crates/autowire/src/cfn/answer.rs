//! The one answer: its body (at most CloudFormation's 4096 bytes), PUT to the ResponseURL with
//! retries and backoff, before the invocation's hard deadline.

use tokio::time::Instant;
use tracing::{error, info, warn};

use super::envelope::{build_response, Envelope, Verdict};
use super::{url_guard, InvocationError, Outcome, Runtime, MAX_RESPONSE_BYTES};

impl Runtime {
    /// Send the one answer, with retries, before `hard_deadline`.
    pub(super) async fn answer(
        &self,
        env: &Envelope,
        verdict: Verdict,
        hard_deadline: Instant,
    ) -> Result<Outcome, InvocationError> {
        let (mut body, mut status) = build_response(env, verdict);
        if body.len() > MAX_RESPONSE_BYTES {
            let reason = format!(
                "response would be {} bytes, over CloudFormation's {MAX_RESPONSE_BYTES}-byte limit; report this as a bug",
                body.len()
            );
            (body, status) = build_response(env, Verdict::Failed(reason));
        }
        let status = status.to_string();
        let redacted = url_guard::redact(&env.url);
        let mut backoff = self.config.put_backoff;
        let mut last = String::new();
        for attempt in 1..=self.config.put_attempts {
            match self.responder.put(&env.url, body.clone()).await {
                Ok(()) => {
                    info!(status = %status, url = %redacted, attempt, "answered CloudFormation");
                    return Ok(Outcome::Answered { status });
                }
                Err(e) => {
                    warn!(url = %redacted, attempt, error = %e, "answer not delivered");
                    last = e;
                }
            }
            if attempt == self.config.put_attempts || Instant::now() + backoff >= hard_deadline {
                break;
            }
            tokio::time::sleep(backoff).await;
            backoff *= 2;
        }
        error!(url = %redacted, "giving up delivering the answer");
        Err(InvocationError::Undelivered {
            url: redacted,
            attempts: self.config.put_attempts,
            last,
        })
    }
}
