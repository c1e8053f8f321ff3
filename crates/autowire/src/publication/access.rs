//! What a publication does to the service for acceptance: the allowed principals and the
//! connection notification. Both are remembered in the policy, so that exactly what the
//! publication did is undone on Delete, on a change, or when the operation fails.

use std::collections::BTreeSet;

use tracing::{info, warn};

use super::principals::PrincipalPlan;
use super::{Policy, ProviderCloud, Publication, Spec};
use crate::aws::{account_principal, Owner, StoredParameter, Tier};
use crate::descriptor::Acceptance;
use crate::error::{Error, Result};

/// The policy parameter as this operation has left it so far.
pub(super) struct PolicyRecord<'a> {
    pub name: &'a str,
    pub owner: &'a Owner,
    /// What it holds now; `None`: it does not exist.
    pub stored: Option<StoredParameter>,
}

impl<C: ProviderCloud> Publication<C> {
    /// Converge both for `spec` and record them in `policy`. `prior` is the stored policy.
    pub(super) async fn converge_access(
        &self,
        spec: &Spec,
        partition: &str,
        acceptance: Acceptance,
        prior: Option<&Policy>,
        policy: &mut Policy,
        record: &mut PolicyRecord<'_>,
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
        // The notification first: a redelivered request adopts the one it finds on the service,
        // so it needs no record beforehand. A notification only helps when the reconciler
        // decides (acceptance `policy`).
        let topic = self.topic.as_deref();
        let topic = topic.filter(|_| acceptance == Acceptance::Policy);
        let prior_notification = prior.and_then(|p| p.connection_notification.as_deref());
        let (notification, created) = self
            .converge_notification(&spec.service_id, topic, prior_notification)
            .await?;
        policy.connection_notification = notification;
        let plan = match self.principals_for(spec, partition, prior_added).await {
            Ok(plan) => plan,
            Err(e) => return Err(self.undo_notification(created, policy, e).await),
        };
        policy.added_principals = plan.ours.clone();
        // Record the principals before adding them: a crash between the two must leave them
        // recorded, or the redelivered request takes them for someone else's and never removes
        // them.
        if !plan.add.is_empty() {
            if let Err(e) = self.record_policy(record, policy).await {
                return Err(self.undo_notification(created, policy, e).await);
            }
        }
        if let Err(e) = self.change_principals(&spec.service_id, &plan).await {
            return Err(self.undo_notification(created, policy, e).await);
        }
        Ok(())
    }

    /// Write `policy` to the policy parameter now, and remember what it holds.
    pub(super) async fn record_policy(
        &self,
        record: &mut PolicyRecord<'_>,
        policy: &Policy,
    ) -> Result<()> {
        let value = policy.to_canonical_json();
        self.ensure(
            record.name,
            record.stored.as_ref(),
            &value,
            Tier::Standard,
            record.owner,
        )
        .await?;
        match &mut record.stored {
            Some(s) => s.value = value,
            None => {
                record.stored = Some(StoredParameter { value, arn: None });
            }
        }
        Ok(())
    }

    /// Take back a notification created by this operation that failed; returns `e`.
    async fn undo_notification(&self, created: bool, policy: &mut Policy, e: Error) -> Error {
        if created {
            if let Some(id) = policy.connection_notification.take() {
                if let Err(e) = self.remove_notification(&id).await {
                    warn!(notification = %id, error = %e, "could not take back the notification just created");
                }
            }
        }
        e
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
        self.plan_principals(&spec.service_id, &want, prior_added)
            .await
    }

    /// Take back the principals the policy says the publication added, and its notification.
    pub(super) async fn release_access(&self, policy: &Policy) -> Result<()> {
        let none = BTreeSet::new();
        let plan = self
            .plan_principals(&policy.service_id, &none, &policy.added_principals)
            .await?;
        self.change_principals(&policy.service_id, &plan).await?;
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
}
