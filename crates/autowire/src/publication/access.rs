//! What a publication does to the service for acceptance: the allowed principals and the
//! connection notification. Both are remembered in the policy, so that exactly what the
//! publication did is undone on Delete, on a change, or when the operation fails.

use std::collections::BTreeSet;

use tracing::{info, warn};

use super::principals::PrincipalPlan;
use super::{Policy, ProviderCloud, Publication, Spec};
use crate::aws::account_principal;
use crate::descriptor::Acceptance;
use crate::error::Result;

impl<C: ProviderCloud> Publication<C> {
    /// Converge both for `spec` and record them in `policy`. `prior` is the stored policy.
    pub(super) async fn converge_access(
        &self,
        spec: &Spec,
        partition: &str,
        acceptance: Acceptance,
        prior: Option<&Policy>,
        policy: &mut Policy,
    ) -> Result<()> {
        let prior = match prior {
            Some(p) if p.service_id != spec.service_id => {
                // ServiceId changed in place: take back what was done to the old service.
                self.release_access_quietly(p).await;
                None
            }
            other => other,
        };
        let prior_added = prior.map(|p| p.added_principals.as_slice()).unwrap_or(&[]);
        let plan = self.principals_for(spec, partition, prior_added).await?;
        // A notification only helps when the reconciler decides (acceptance `policy`).
        let topic = self.topic.as_deref();
        let topic = topic.filter(|_| acceptance == Acceptance::Policy);
        let prior_notification = prior.and_then(|p| p.connection_notification.as_deref());
        match self
            .converge_notification(&spec.service_id, topic, prior_notification)
            .await
        {
            Ok(n) => policy.connection_notification = n,
            Err(e) => {
                self.undo_principals(&spec.service_id, &plan.add).await;
                return Err(e);
            }
        }
        policy.added_principals = plan.ours;
        Ok(())
    }

    /// With ManagePrincipals, the accounts of AllowedAccounts; without, nothing is touched and
    /// what the publication added before is left in place, no longer its own.
    async fn principals_for(
        &self,
        spec: &Spec,
        partition: &str,
        prior_added: &[String],
    ) -> Result<PrincipalPlan> {
        if !spec.manage_principals {
            if !prior_added.is_empty() {
                info!(principals = ?prior_added, "ManagePrincipals is false: principals left in place, no longer ours");
            }
            return Ok(PrincipalPlan::default());
        }
        let accounts = spec.allowed_accounts.iter();
        let want = accounts.map(|a| account_principal(partition, a)).collect();
        self.converge_principals(&spec.service_id, &want, prior_added)
            .await
    }

    /// Take back the principals the policy says the publication added, and its notification.
    pub(super) async fn release_access(&self, policy: &Policy) -> Result<()> {
        let none = BTreeSet::new();
        self.converge_principals(&policy.service_id, &none, &policy.added_principals)
            .await?;
        if let Some(id) = &policy.connection_notification {
            self.remove_notification(id).await?;
        }
        Ok(())
    }

    /// [`Self::release_access`], best effort.
    pub(super) async fn release_access_quietly(&self, policy: &Policy) {
        if let Err(e) = self.release_access(policy).await {
            warn!(service = %policy.service_id, error = %e, "could not take back principals or notification");
        }
    }

    /// Leave nothing behind from a Create that did not happen: the policy and what it records.
    pub(super) async fn undo_create(&self, policy_param: &str, policy: &Policy) {
        if let Err(e) = self.cloud.delete(policy_param).await {
            warn!(parameter = %policy_param, error = %e, "could not undo policy write");
        }
        self.release_access_quietly(policy).await;
    }

    async fn undo_principals(&self, service_id: &str, added: &[String]) {
        if added.is_empty() {
            return;
        }
        if let Err(e) = self.cloud.change_principals(service_id, &[], added).await {
            warn!(service = service_id, error = %e, "could not take back the principals just added");
        }
    }
}
