//! The service's allowed principals: the accounts in AllowedAccounts are added, and only those
//! the publication added (remembered in its policy) are ever removed.

use std::collections::BTreeSet;

use tracing::info;

use super::{ProviderCloud, Publication};
use crate::error::Result;

/// What to change on the service, and which principals are the publication's afterwards.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PrincipalPlan {
    pub add: Vec<String>,
    pub remove: Vec<String>,
    pub ours: Vec<String>,
}

/// `want`: the principals the publication wants; `current`: the service's now; `prior`: those
/// the publication added before. A wanted principal someone else added stays theirs.
pub fn plan(
    want: &BTreeSet<String>,
    current: &BTreeSet<String>,
    prior: &BTreeSet<String>,
) -> PrincipalPlan {
    let ours = want
        .iter()
        .filter(|p| prior.contains(*p) || !current.contains(*p));
    let gone = prior.difference(want).filter(|p| current.contains(*p));
    PrincipalPlan {
        add: want.difference(current).cloned().collect(),
        remove: gone.cloned().collect(),
        ours: ours.cloned().collect(),
    }
}

impl<C: ProviderCloud> Publication<C> {
    /// What makes the service allow `want`, removing what the publication added before
    /// (`prior`) and no longer wants; its `ours` is what to remember. Changes nothing.
    pub(super) async fn plan_principals(
        &self,
        service_id: &str,
        want: &BTreeSet<String>,
        prior: &[String],
    ) -> Result<PrincipalPlan> {
        let prior: BTreeSet<String> = prior.iter().cloned().collect();
        if want.is_empty() && prior.is_empty() {
            return Ok(PrincipalPlan::default());
        }
        let current = self.cloud.allowed_principals(service_id).await?;
        Ok(plan(want, &current.into_iter().collect(), &prior))
    }

    /// Carry out `plan` on the service.
    pub(super) async fn change_principals(
        &self,
        service_id: &str,
        plan: &PrincipalPlan,
    ) -> Result<()> {
        if !plan.add.is_empty() || !plan.remove.is_empty() {
            self.cloud
                .change_principals(service_id, &plan.add, &plan.remove)
                .await?;
            info!(service = service_id, added = ?plan.add, removed = ?plan.remove, "allowed principals changed");
        }
        Ok(())
    }
}
