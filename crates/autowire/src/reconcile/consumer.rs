//! The consumer side of a pass: the links built from a descriptor that changed (every link, on
//! the schedule) converge as their own Update would; a deleted descriptor leaves them as they
//! are, marked gone. A pass reads what it needs about every link once ([`PassView`]), reads each
//! descriptor once (10 a call), and stops starting links when its deadline is near: each link
//! converges whole or not at all, so the next pass finds everything consistent.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;
use tracing::{info, warn};

use super::event::{ParameterOperation, Trigger};
use super::pacing::Pacer;
use super::view::PassView;
use crate::aws::{EndpointChange, StoredParameter, LINK_TAG};
use crate::cfn::Step;
use crate::descriptor::Descriptor;
use crate::error::Result;
use crate::link::{ConsumerCloud, Link, LinkRecord, Spec, RECORD_PREFIX};
use crate::names;
use crate::probe::Target;

/// Set on a link's endpoints when the descriptor it was built from is deleted.
pub const SERVICE_STATE_TAG: &str = "privatelink-autowire:service-state";

/// Time a link's convergence may take (paced endpoint calls included): no link starts later
/// than this before the deadline.
pub const LINK_BUDGET: Duration = Duration::from_secs(20);

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
    /// (descriptor, reason): descriptors that could not be read; their links were left alone.
    pub unreadable_descriptors: Vec<(String, String)>,
    /// Links whose alias the descriptor's TLS names no longer cover (logged, left working).
    pub tls_mismatches: Vec<String>,
    /// Links not started because the deadline was near: the next pass takes them.
    pub deferred: usize,
    /// The probe targets of the links that converged, each named by its link ID.
    #[serde(skip)]
    pub probe_targets: Vec<Target>,
    /// Links not reconciled in this pass (put off, failed, descriptor unreadable).
    #[serde(skip)]
    pub left_alone: Vec<String>,
}

pub struct Reconciler<C> {
    cloud: Arc<C>,
    pacer: Arc<Pacer>,
    /// The account the reconciler runs in (a link's ServiceParameter may be a name in it).
    account: String,
    /// This account's event bus (links that asked for a certificate ask again on it).
    bus: String,
}

/// A chosen link: its record and its parsed properties.
struct Chosen {
    record: LinkRecord,
    spec: Spec,
}

impl<C: ConsumerCloud + 'static> Reconciler<C> {
    pub fn new(cloud: Arc<C>, account: &str) -> Self {
        Reconciler {
            cloud,
            pacer: Arc::new(Pacer::ec2_endpoints()),
            account: account.to_string(),
            bus: String::new(),
        }
    }

    /// Where links that asked for a certificate ask again.
    pub fn with_bus(mut self, bus: &str) -> Self {
        self.bus = bus.to_string();
        self
    }

    /// One pass for `trigger`. `pass_id` names the pass in logs (and in any zone it must create).
    pub async fn consumer_pass(
        &self,
        trigger: &Trigger,
        pass_id: &str,
        deadline: Instant,
    ) -> Result<ConsumerReport> {
        let mut report = ConsumerReport::default();
        let chosen: Vec<Chosen> = self
            .records(&mut report)
            .await?
            .into_iter()
            .filter(|c| match trigger {
                Trigger::Descriptor(_, p) => p.is(&c.spec.service_parameter, &self.account),
                Trigger::Scheduled => true,
                _ => false,
            })
            .collect();
        report.links = chosen.len();
        if chosen.is_empty() {
            return Ok(report);
        }
        if let Trigger::Descriptor(ParameterOperation::Deleted, _) = trigger {
            for c in &chosen {
                self.mark_gone(&c.record, &mut report).await;
            }
            return Ok(report);
        }
        let descriptors = self.descriptors(&chosen).await;
        let subnets: Vec<String> = chosen
            .iter()
            .flat_map(|c| c.spec.subnet_ids.clone())
            .collect();
        let stored = descriptors
            .iter()
            .map(|(k, v)| (k.clone(), v.as_ref().ok().map(|(s, _)| s.clone())))
            .collect();
        let view = PassView::load(self.cloud.clone(), self.pacer.clone(), &subnets, stored).await?;
        let link = Link::new(Arc::new(view)).with_bus(self.bus.clone());
        for c in &chosen {
            if Instant::now() + LINK_BUDGET > deadline {
                report.deferred += 1;
                report.left_alone.push(c.record.link_id.clone());
                continue;
            }
            match &descriptors[&c.spec.service_parameter] {
                Ok((_, d)) => {
                    self.check_tls(c, d, &mut report);
                    converge(&link, &c.record, pass_id, &mut report).await;
                }
                // Counted once per descriptor, below.
                Err(_) => report.left_alone.push(c.record.link_id.clone()),
            }
        }
        for (name, result) in &descriptors {
            if let Err(reason) = result {
                warn!(descriptor = %name, reason = %reason, "DescriptorUnreadable: its links are left as they are");
                report
                    .unreadable_descriptors
                    .push((name.clone(), reason.clone()));
            }
        }
        Ok(report)
    }

    async fn records(&self, report: &mut ConsumerReport) -> Result<Vec<Chosen>> {
        let mut out = Vec::new();
        for (name, value) in self.cloud.list(RECORD_PREFIX).await? {
            let parsed = LinkRecord::parse(&name, &value)
                .and_then(|record| Ok((Spec::parse(&record.properties)?, record)));
            match parsed {
                Ok((spec, record)) => out.push(Chosen { record, spec }),
                Err(e) => {
                    warn!(record = %name, error = %e, "link record unreadable; left alone");
                    report.unreadable_records += 1;
                }
            }
        }
        Ok(out)
    }

    /// Each distinct descriptor once: GetParameters, 10 a call. One that is not shared with this
    /// account fails its whole call, as AWS does; that call's names are then read one by one.
    async fn descriptors(
        &self,
        chosen: &[Chosen],
    ) -> BTreeMap<String, std::result::Result<(StoredParameter, Descriptor), String>> {
        let mut names: Vec<String> = chosen
            .iter()
            .map(|c| c.spec.service_parameter.clone())
            .collect();
        names.sort();
        names.dedup();
        let mut found: BTreeMap<String, std::result::Result<Option<StoredParameter>, String>> =
            BTreeMap::new();
        for batch in names.chunks(10) {
            match self.cloud.read_many(batch).await {
                Ok(got) => {
                    let got: BTreeMap<_, _> = got.into_iter().collect();
                    for n in batch {
                        found.insert(n.clone(), Ok(got.get(n).cloned()));
                    }
                }
                Err(_) => {
                    for n in batch {
                        found.insert(n.clone(), self.cloud.read(n).await.map_err(|e| e.reason()));
                    }
                }
            }
        }
        found
            .into_iter()
            .map(|(name, r)| {
                let parsed = match r {
                    Ok(Some(stored)) => Descriptor::parse(&name, &stored.value)
                        .map(|d| (stored, d))
                        .map_err(|e| e.reason()),
                    Ok(None) => Err(format!(
                        "{name} does not exist, or is not shared with account {}",
                        self.account
                    )),
                    Err(reason) => Err(reason),
                };
                (name, parsed)
            })
            .collect()
    }

    /// The alias must stay covered by the service's TLS names; when it no longer is, say so and
    /// count it, and leave the link working as it is.
    fn check_tls(&self, c: &Chosen, d: &Descriptor, report: &mut ConsumerReport) {
        let Some(alias) = &c.spec.alias_name else {
            return;
        };
        // A link that asked the provider for its own certificate is covered by that (§5).
        if c.spec.require_tls_match
            && c.spec.alias_certificate != crate::link::AliasCertificate::Request
            && !d.tls_names.is_empty()
            && names::covering(&d.tls_names, alias).is_none()
        {
            warn!(link = %c.record.link_id, alias = %alias, tls_names = ?d.tls_names,
                "TlsMismatch: the service's TLS names no longer cover the alias; HTTPS to it will fail until the provider serves it again");
            report.tls_mismatches.push(c.record.link_id.clone());
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

async fn converge<V: ConsumerCloud + 'static>(
    link: &Link<V>,
    record: &LinkRecord,
    pass_id: &str,
    report: &mut ConsumerReport,
) {
    match link.reconcile(record, pass_id).await {
        Ok((Step::Done(_), targets)) => {
            info!(link = %record.link_id, "link converged");
            report.converged += 1;
            let named = targets.into_iter().map(|t| Target {
                name: Some(record.link_id.clone()),
                ..t
            });
            report.probe_targets.extend(named);
        }
        Ok((Step::Wait { waiting_for, .. }, _)) => {
            info!(link = %record.link_id, waiting_for, "link on its way; the next pass goes on");
            report.pending += 1;
        }
        Err(e) => {
            warn!(link = %record.link_id, error = %e, "link left as it is");
            report.failed.push((record.link_id.clone(), e.reason()));
            report.left_alone.push(record.link_id.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::FakeCloud;
    use crate::link::tests::{created, descriptor, share, OTHER_SERVICE, SERVICE};
    use crate::reconcile::ParameterRef;

    const CONSUMER: &str = "222222222222";

    fn far() -> Instant {
        Instant::now() + Duration::from_secs(600)
    }

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
            let report = r
                .consumer_pass(t, &format!("pass-{n}"), far())
                .await
                .unwrap();
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
        let report = r.consumer_pass(&other, "pass-1", far()).await.unwrap();
        assert_eq!((report.links, report.unreadable_records), (0, 1));
        assert_eq!(cloud.mutating_calls(), Vec::<&str>::new());
    }

    /// `n` links in one VPC, all built from the shared descriptor (their records as their
    /// stacks' Creates would write them), settled.
    async fn many(n: usize) -> (Arc<FakeCloud>, Reconciler<FakeCloud>) {
        use crate::cfn::{RequestKind, Resource};
        use crate::link::tests::{props, request, setup};
        let (cloud, link, subnets) = setup();
        for i in 0..n {
            let mut create = request(RequestKind::Create, props(&subnets));
            create.logical_id = format!("Link{i}");
            // One alias zone per VPC and parent name: the aliases are tested elsewhere.
            create.props.as_object_mut().unwrap().remove("AliasName");
            for _ in 0..20 {
                if let Step::Done(_) = link.apply(&create, None).await.unwrap() {
                    break;
                }
                cloud.accept_pending();
            }
        }
        (cloud.clone(), Reconciler::new(cloud, CONSUMER))
    }

    fn describes(cloud: &FakeCloud) -> usize {
        cloud
            .calls()
            .iter()
            .filter(|c| c.starts_with("ec2:Describe"))
            .count()
    }

    #[tokio::test]
    async fn a_pass_makes_the_same_describe_calls_for_3_links_as_for_12() {
        let mut counts = Vec::new();
        for n in [3, 12] {
            let (cloud, r) = many(n).await;
            cloud.reset_calls();
            let report = r
                .consumer_pass(&Trigger::Scheduled, "pass-1", far())
                .await
                .unwrap();
            assert_eq!(report.converged, n, "{report:?}");
            assert_eq!(cloud.mutating_calls(), Vec::<&str>::new());
            let reads = cloud
                .calls()
                .iter()
                .filter(|c| **c == "ssm:GetParameters")
                .count();
            counts.push((describes(&cloud), reads));
        }
        assert_eq!(
            counts[0], counts[1],
            "describe and GetParameters calls for 3 and 12 links"
        );
        assert_eq!(counts[0].1, 1, "one descriptor, read once");
    }

    #[tokio::test]
    async fn az_and_port_changes_reach_every_link_in_one_pass() {
        let (cloud, r) = many(3).await;
        let mut d = descriptor(SERVICE, &[443, 8443], false);
        d.az_ids = vec!["use1-az1".into(), "use1-az2".into(), "use1-az4".into()];
        share(&cloud, &d.sealed());
        let report = settle(&cloud, &r, &changed(ParameterOperation::Written)).await;
        assert_eq!(report.converged, 3, "{report:?}");
        for e in cloud.live_endpoints() {
            assert_eq!(e.subnet_ids.len(), 3, "{e:?}");
        }
        let groups = cloud
            .state
            .lock()
            .unwrap()
            .groups
            .values()
            .map(|g| {
                g.group
                    .rules
                    .iter()
                    .map(|r| r.port)
                    .collect::<std::collections::BTreeSet<_>>()
            })
            .collect::<Vec<_>>();
        assert!(
            groups.iter().all(|ports| ports.contains(&8443)),
            "{groups:?}"
        );
        cloud.reset_calls();
        settle(&cloud, &r, &Trigger::Scheduled).await;
        assert_eq!(cloud.mutating_calls(), Vec::<&str>::new());
    }

    #[tokio::test]
    async fn a_pass_near_its_deadline_starts_no_link() {
        let (cloud, r) = many(2).await;
        share(&cloud, &descriptor(SERVICE, &[443, 8443], false));
        cloud.reset_calls();
        let soon = Instant::now() + LINK_BUDGET / 2;
        let report = r
            .consumer_pass(&Trigger::Scheduled, "pass-1", soon)
            .await
            .unwrap();
        assert_eq!((report.deferred, report.converged), (2, 0));
        assert_eq!(cloud.mutating_calls(), Vec::<&str>::new());
    }

    #[tokio::test]
    async fn an_unreadable_descriptor_leaves_its_links_alone_and_is_counted() {
        let (cloud, r) = linked().await;
        cloud.state.lock().unwrap().shared.clear();
        cloud.reset_calls();
        let report = r
            .consumer_pass(&Trigger::Scheduled, "pass-1", far())
            .await
            .unwrap();
        assert_eq!(report.unreadable_descriptors.len(), 1, "{report:?}");
        assert_eq!(report.converged, 0);
        assert_eq!(cloud.mutating_calls(), Vec::<&str>::new());
        assert_eq!(cloud.live_endpoints().len(), 1);
    }

    #[tokio::test]
    async fn tls_names_that_no_longer_cover_the_alias_are_counted_and_nothing_is_torn_down() {
        let (cloud, r) = linked().await;
        let mut d = descriptor(SERVICE, &[443, 8443], false);
        d.tls_names = vec!["orders.elsewhere.example.com".into()];
        share(&cloud, &d.sealed());
        let report = settle(&cloud, &r, &changed(ParameterOperation::Written)).await;
        assert_eq!(report.tls_mismatches.len(), 1, "{report:?}");
        assert_eq!(report.converged, 1, "the port change still applies");
        assert_eq!(cloud.live_endpoints().len(), 1);
    }

    #[tokio::test]
    async fn a_converged_link_gives_its_probe_targets() {
        let (cloud, r) = linked().await;
        let report = settle(&cloud, &r, &Trigger::Scheduled).await;
        let hosts: Vec<&str> = report
            .probe_targets
            .iter()
            .map(|t| t.host.as_str())
            .collect();
        assert!(hosts.contains(&"api.orders.link.example.com"), "{hosts:?}");
        assert!(
            hosts.iter().any(|h| h.ends_with(".vpce.amazonaws.com")),
            "{hosts:?}"
        );
    }

    #[tokio::test]
    async fn private_dns_turns_on_once_the_provider_verifies_its_name() {
        let (cloud, r) = linked().await;
        assert!(!cloud.live_endpoints()[0].private_dns_enabled);
        crate::link::tests::verify_private_dns(&cloud);
        let report = settle(&cloud, &r, &changed(ParameterOperation::Written)).await;
        assert_eq!(report.converged, 1, "{report:?}");
        assert!(cloud.live_endpoints()[0].private_dns_enabled);
    }
}
