//! One chain per request: expiring markers in Parameter Store that let a redelivered invocation
//! which had already handed over stand down (see [`Runtime::with_claims`]).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tracing::{info, warn};

use super::envelope::Envelope;
use super::{Request, Runtime};
use crate::aws::Markers;

/// How long a marker lives. A request's chains all claim within CloudFormation's one-hour
/// ServiceTimeout of a delivery no older than the function's maximum event age (one hour in
/// the template), so three hours outlive every claim that matters; then Parameter Store
/// deletes the marker, and nothing is left behind.
pub const CLAIM_TTL: Duration = Duration::from_secs(3 * 3600);

/// Where the functions claim by default (the template gives each stack a path of its own).
pub const DEFAULT_CLAIMS_PATH: &str = "/privatelink-autowire/claims";

impl Runtime {
    /// Guard against two chains of one request (a hand-over, then Lambda's retry of the
    /// invocation that made it): each step past round `r` (a continuation starting round `r`,
    /// or round `r - 1` answering) first claims `{prefix}/{RequestId}/{r}` in Parameter Store,
    /// create-if-absent, with its chain's identity. The claim is won once; a redelivery of the
    /// winner's own payload finds its own identity and goes on; any other stands down without
    /// answering. A claim that can't be made for another reason (access) is logged and the
    /// invocation goes on, as it would unguarded. Markers expire after [`CLAIM_TTL`].
    pub fn with_claims(mut self, store: Arc<dyn Markers>, prefix: impl Into<String>) -> Self {
        self.claims = Some((store, prefix.into().trim_end_matches('/').to_string()));
        self
    }

    /// The name of the request's marker `what` (`step-{r}`, `handover-{r}`).
    fn marker(&self, request_id: &str, what: &str) -> Option<(&Arc<dyn Markers>, String)> {
        let (store, prefix) = self.claims.as_ref()?;
        let id: String = request_id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .take(200)
            .collect();
        Some((store, format!("{prefix}/{id}/{what}")))
    }

    /// Note, before the asynchronous invoke, that round `round` hands over: an answer of that
    /// round (a redelivery) then claims its step first. Best effort.
    pub(super) async fn note_handover(&self, req: &Request, round: u32) {
        let Some((store, name)) = self.marker(&req.request_id, &format!("handover-{round}")) else {
            return;
        };
        if let Err(e) = store.mark(&name, "1", expiry()).await {
            warn!(marker = %name, error = %e, "could not note the hand-over");
        }
    }

    /// May answering round `round` leave a second chain answering too? Only when some delivery
    /// of that round handed over (a read; unreadable counts as yes).
    pub(super) async fn handed_over(&self, env: &Envelope, round: u32) -> bool {
        let Some((store, name)) = self.marker(&env.request_id, &format!("handover-{round}")) else {
            return false;
        };
        !matches!(store.marked(&name).await, Ok(None))
    }

    /// May this chain answer round `round`? Yes, unless some delivery of the round handed over
    /// and another chain holds the next step. Decided by `by` (the answer needs the rest of the
    /// time): a guard that can't finish by then lets the answer go.
    pub(super) async fn may_answer(
        &self,
        env: &Envelope,
        round: u32,
        chain: &str,
        by: tokio::time::Instant,
    ) -> bool {
        let guard = async {
            !self.handed_over(env, round).await
                || self.claim(env, round.saturating_add(1), chain).await
        };
        tokio::time::timeout_at(by, guard)
            .await
            .unwrap_or_else(|_| {
                warn!("the one-chain guard did not finish in time; answering unguarded");
                true
            })
    }

    /// Claim step `slot` of the request for `chain`: `true` when it is this chain's.
    pub(super) async fn claim(&self, env: &Envelope, slot: u32, chain: &str) -> bool {
        let Some((store, name)) = self.marker(&env.request_id, &format!("step-{slot}")) else {
            return true;
        };
        let held = match store.mark(&name, chain, expiry()).await {
            Ok(true) => return true,
            Ok(false) => store.marked(&name).await,
            Err(e) => {
                warn!(claim = %name, error = %e, "could not claim the step; going on unguarded");
                return true;
            }
        };
        match held {
            Ok(Some(holder)) if holder != chain => {
                info!(claim = %name, held_by = %holder, "another chain has this request; standing down");
                false
            }
            Ok(_) => true,
            Err(e) => {
                warn!(claim = %name, error = %e, "could not read the claim; going on unguarded");
                true
            }
        }
    }
}

fn expiry() -> SystemTime {
    SystemTime::now() + CLAIM_TTL
}
