//! The consumer side of a pass: the links built from a descriptor that changed (every link, on
//! the schedule) converge as their own Update would; a deleted descriptor leaves them as they
//! are, marked gone.

use std::sync::Arc;

use serde::Serialize;
use tracing::{info, warn};

use super::event::{ParameterOperation, ParameterRef, Trigger};
use crate::aws::{EndpointChange, LINK_TAG};
use crate::cfn::Step;
use crate::error::Result;
use crate::link::{ConsumerCloud, Link, LinkRecord, RECORD_PREFIX};

/// Set on a link's endpoints when the descriptor it was built from is deleted.
pub const SERVICE_STATE_TAG: &str = "privatelink-autowire:service-state";

/// What one pass did, for the log line and the counts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ConsumerReport {
    /// Links the trigger concerned.
    pub links: usize,
    pub converged: usize,
    /// Still on their way (acceptance, an endpoint being created): the next pass goes on.
    pub pending: usize,
    /// Marked `ServiceGone` in this pass.
    pub gone: usize,
    /// (link ID, reason): left as they are.
    pub failed: Vec<(String, String)>,
    /// Records this release cannot read.
    pub unreadable_records: usize,
}

pub struct Reconciler<C> {
    cloud: Arc<C>,
    link: Link<C>,
    /// The account the reconciler runs in (a link's ServiceParameter may be a name in it).
    account: String,
}

impl<C: ConsumerCloud> Reconciler<C> {
    pub fn new(cloud: Arc<C>, account: &str) -> Self {
        Reconciler {
            link: Link::new(cloud.clone()),
            cloud,
            account: account.to_string(),
        }
    }

    /// One pass for `trigger`. `pass_id` names the pass in logs (and in any zone it must create).
    pub async fn consumer_pass(&self, trigger: &Trigger, pass_id: &str) -> Result<ConsumerReport> {
        let mut report = ConsumerReport::default();
        let records = self.records(&mut report).await?;
        let chosen: Vec<&LinkRecord> = records
            .iter()
            .filter(|r| match trigger {
                Trigger::Descriptor(_, p) => self.built_from(r, p),
                Trigger::Scheduled => true,
                _ => false,
            })
            .collect();
        report.links = chosen.len();
        for record in chosen {
            match trigger {
                Trigger::Descriptor(ParameterOperation::Deleted, _) => {
                    self.mark_gone(record, &mut report).await
                }
                _ => self.converge(record, pass_id, &mut report).await,
            }
        }
        Ok(report)
    }

    async fn records(&self, report: &mut ConsumerReport) -> Result<Vec<LinkRecord>> {
        let mut out = Vec::new();
        for (name, value) in self.cloud.list(RECORD_PREFIX).await? {
            match LinkRecord::parse(&name, &value) {
                Ok(r) => out.push(r),
                Err(e) => {
                    warn!(record = %name, error = %e, "link record unreadable; left alone");
                    report.unreadable_records += 1;
                }
            }
        }
        Ok(out)
    }

    fn built_from(&self, record: &LinkRecord, descriptor: &ParameterRef) -> bool {
        record.properties["ServiceParameter"]
            .as_str()
            .is_some_and(|sp| descriptor.is(sp, &self.account))
    }

    async fn converge(&self, record: &LinkRecord, pass_id: &str, report: &mut ConsumerReport) {
        match self.link.reconcile(record, pass_id).await {
            Ok(Step::Done(_)) => {
                info!(link = %record.link_id, "link converged");
                report.converged += 1;
            }
            Ok(Step::Wait { waiting_for, .. }) => {
                info!(link = %record.link_id, waiting_for, "link on its way; the next pass goes on");
                report.pending += 1;
            }
            Err(e) => {
                warn!(link = %record.link_id, error = %e, "link left as it is");
                report.failed.push((record.link_id.clone(), e.reason()));
            }
        }
    }

    async fn mark_gone(&self, record: &LinkRecord, report: &mut ConsumerReport) {
        let endpoints = match self.cloud.endpoints_tagged(LINK_TAG, &record.link_id).await {
            Ok(e) => e,
            Err(e) => {
                report.failed.push((record.link_id.clone(), e.reason()));
                return;
            }
        };
        for e in endpoints.iter().filter(|e| !e.is_gone()) {
            if e.tags.get(SERVICE_STATE_TAG).map(String::as_str) == Some("gone") {
                continue;
            }
            let change = EndpointChange {
                tags: vec![(SERVICE_STATE_TAG.to_string(), "gone".to_string())],
                ..EndpointChange::default()
            };
            if let Err(err) = self.cloud.modify_endpoint(&e.id, &change).await {
                report.failed.push((record.link_id.clone(), err.reason()));
                return;
            }
            warn!(link = %record.link_id, endpoint = %e.id, "ServiceGone: the descriptor was deleted; the link stays as it is");
            report.gone += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::FakeCloud;
    use crate::link::tests::{created, descriptor, share, OTHER_SERVICE, SERVICE};

    const CONSUMER: &str = "222222222222";

    fn changed(operation: ParameterOperation) -> Trigger {
        Trigger::Descriptor(
            operation,
            ParameterRef {
                name: "/privatelink-autowire/services/orders".into(),
                account: "999999999999".into(),
                region: "us-east-1".into(),
            },
        )
    }

    /// A consumer account with one link, converged by its stack's Create.
    async fn linked() -> (Arc<FakeCloud>, Reconciler<FakeCloud>) {
        let (cloud, _, _, _) = created().await;
        (cloud.clone(), Reconciler::new(cloud, CONSUMER))
    }

    /// Passes until nothing is on its way, accepting as the provider would.
    async fn settle(cloud: &FakeCloud, r: &Reconciler<FakeCloud>, t: &Trigger) -> ConsumerReport {
        for n in 0..20 {
            let report = r.consumer_pass(t, &format!("pass-{n}")).await.unwrap();
            if report.pending == 0 {
                return report;
            }
            cloud.accept_pending();
        }
        panic!("the passes did not settle")
    }

    #[tokio::test]
    async fn a_pass_with_no_change_makes_no_mutating_call() {
        let (cloud, r) = linked().await;
        cloud.reset_calls();
        let report = settle(&cloud, &r, &Trigger::Scheduled).await;
        assert_eq!((report.links, report.converged), (1, 1));
        assert_eq!(cloud.mutating_calls(), Vec::<&str>::new());
    }

    #[tokio::test]
    async fn a_new_service_name_moves_the_link_with_no_stack_update() {
        let (cloud, r) = linked().await;
        share(&cloud, &descriptor(OTHER_SERVICE, &[443, 8443], false));
        let report = settle(&cloud, &r, &changed(ParameterOperation::Written)).await;
        assert_eq!(report.converged, 1, "{report:?}");
        let live = cloud.standing_endpoints();
        assert_eq!(live.len(), 1, "{live:?}");
        assert_eq!(live[0].service_name, OTHER_SERVICE);
    }

    #[tokio::test]
    async fn a_deleted_descriptor_keeps_the_link_and_marks_it_gone_once() {
        let (cloud, r) = linked().await;
        let report = settle(&cloud, &r, &changed(ParameterOperation::Deleted)).await;
        assert_eq!(report.gone, 1);
        let live = cloud.live_endpoints();
        assert_eq!(live.len(), 1);
        assert_eq!(live[0].service_name, SERVICE);
        assert_eq!(live[0].tags[SERVICE_STATE_TAG], "gone");
        cloud.reset_calls();
        let again = settle(&cloud, &r, &changed(ParameterOperation::Deleted)).await;
        assert_eq!(again.gone, 0);
        assert_eq!(cloud.mutating_calls(), Vec::<&str>::new());
    }

    #[tokio::test]
    async fn another_descriptor_or_an_unreadable_record_touches_nothing() {
        let (cloud, r) = linked().await;
        cloud.state.lock().unwrap().params.insert(
            format!("{RECORD_PREFIX}/link-broken"),
            crate::fake::Param {
                value: "{not json".into(),
                tier: crate::aws::Tier::Standard,
                tags: Default::default(),
            },
        );
        cloud.reset_calls();
        let other = Trigger::Descriptor(
            ParameterOperation::Written,
            ParameterRef {
                name: "/privatelink-autowire/services/payments".into(),
                account: "999999999999".into(),
                region: "us-east-1".into(),
            },
        );
        let report = r.consumer_pass(&other, "pass-1").await.unwrap();
        assert_eq!((report.links, report.unreadable_records), (0, 1));
        assert_eq!(cloud.mutating_calls(), Vec::<&str>::new());
    }
}
