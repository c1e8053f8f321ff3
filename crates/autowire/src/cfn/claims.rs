//! One chain per request: markers in Parameter Store that let a redelivered invocation which
//! had already handed over stand down (see [`Runtime::with_claims`]; no function switches it on
//! yet, see the README's runtime section).

use std::sync::Arc;

use tracing::{info, warn};

use super::envelope::Envelope;
use super::{Request, Runtime};
use crate::aws::{Descriptors, Owner, Tier};

impl Runtime {
    /// Guard against two chains of one request (a hand-over, then Lambda's retry of the
    /// invocation that made it): each step past round `r` (a continuation starting round `r`,
    /// or round `r - 1` answering) first claims `{prefix}/{RequestId}/{r}` in Parameter Store,
    /// create-if-absent, with its chain's identity. The claim is won once; a redelivery of the
    /// winner's own payload finds its own identity and goes on; any other stands down without
    /// answering. A claim that can't be made for another reason (access) is logged and the
    /// invocation goes on, as it would unguarded.
    pub fn with_claims(mut self, store: Arc<dyn Descriptors>, prefix: impl Into<String>) -> Self {
        self.claims = Some((store, prefix.into().trim_end_matches('/').to_string()));
        self
    }

    /// The name of the request's marker `what` (`step-{r}`, `handover-{r}`).
    fn marker(&self, request_id: &str, what: &str) -> Option<(&Arc<dyn Descriptors>, String)> {
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
        let owner = Owner {
            stack_id: req.stack_id.clone(),
            logical_id: req.logical_id.clone(),
        };
        match store.create(&name, "1", Tier::Standard, &owner).await {
            Ok(()) => {}
            Err(e) if e.aws_code() == Some("ParameterAlreadyExists") => {}
            Err(e) => warn!(marker = %name, error = %e, "could not note the hand-over"),
        }
    }

    /// May answering round `round` leave a second chain answering too? Only when some delivery
    /// of that round handed over (a read; unreadable counts as yes).
    pub(super) async fn handed_over(&self, env: &Envelope, round: u32) -> bool {
        let Some((store, name)) = self.marker(&env.request_id, &format!("handover-{round}")) else {
            return false;
        };
        !matches!(store.read(&name).await, Ok(None))
    }

    /// Claim step `slot` of the request for `chain`: `true` when it is this chain's.
    pub(super) async fn claim(&self, env: &Envelope, slot: u32, chain: &str) -> bool {
        let Some((store, name)) = self.marker(&env.request_id, &format!("step-{slot}")) else {
            return true;
        };
        let owner = Owner {
            stack_id: env.stack_id.clone(),
            logical_id: env.logical_id.clone(),
        };
        let held = match store.create(&name, chain, Tier::Standard, &owner).await {
            Ok(()) => return true,
            Err(e) if e.aws_code() == Some("ParameterAlreadyExists") => store.read(&name).await,
            Err(e) => {
                warn!(claim = %name, error = %e, "could not claim the step; going on unguarded");
                return true;
            }
        };
        match held {
            Ok(Some(p)) if p.value != chain => {
                info!(claim = %name, held_by = %p.value, "another chain has this request; standing down");
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
