//! Delete: refuse (or reject) connected consumers first, then take back private DNS, then remove
//! the descriptor and the policy. Parameters go only when deletion really goes ahead.

use serde_json::Value;
use tracing::{info, warn};

use super::{owner_of, policy_name, OnDelete, Policy, ProviderCloud, Publication};
use crate::arn::Arn;
use crate::aws::{Connection, Owner};
use crate::certreq::provider::Desk;
use crate::cfn::props::Props;
use crate::cfn::{Answer, Request, Step};
use crate::dns;
use crate::error::{Error, Result};

/// How the connected consumers are named in a Reason: as many as fit.
pub fn connected_reason(service_id: &str, live: &[Connection]) -> String {
    let head = format!(
        "{} consumer endpoint(s) still connected to {service_id}: ",
        live.len()
    );
    let tail = "; delete them or set OnDeleteWithConnections to reject";
    let budget = crate::error::MAX_REASON_CHARS.saturating_sub(head.len() + tail.len() + 8);
    let mut listed = String::new();
    let mut shown = 0;
    for c in live {
        let item = format!(
            "{}{} ({})",
            if shown > 0 { ", " } else { "" },
            c.owner,
            c.endpoint_id
        );
        if listed.len() + item.len() > budget {
            break;
        }
        listed.push_str(&item);
        shown += 1;
    }
    if shown < live.len() {
        listed.push_str(&format!(" +{} more", live.len() - shown));
    }
    format!("{head}{listed}{tail}")
}

/// Delete-time settings, read leniently: a Delete must not fail over a property it can ignore.
fn on_delete(props: &Value) -> OnDelete {
    let mode = Props::new(props, &["OnDeleteWithConnections"])
        .ok()
        .and_then(|p| p.opt_str("OnDeleteWithConnections").ok().flatten());
    match mode.as_deref() {
        Some("reject") => OnDelete::Reject,
        _ => OnDelete::Fail,
    }
}

impl<C: ProviderCloud> Publication<C> {
    /// Read a parameter if it is ours; someone else's (or an unreadable owner) counts as absent.
    async fn ours(&self, name: &str, owner: &Owner) -> Result<Option<String>> {
        match self.owned(name, owner).await {
            Ok(v) => Ok(v.map(|p| p.value)),
            Err(Error::Conflict(why)) => {
                warn!(parameter = name, why = %why, "not ours; left alone");
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    pub(super) async fn unpublish(&self, req: &Request) -> Result<Step> {
        let physical_id = req.physical_id.clone().unwrap_or_default();
        let done = Step::Done(Answer {
            physical_id: physical_id.clone(),
            ..Answer::default()
        });
        let Some(name) = Arn::parse(&physical_id)
            .ok()
            .and_then(|a| a.parameter_name())
        else {
            warn!(physical_id = %physical_id, "not a parameter ARN; nothing of ours to delete");
            return Ok(done);
        };
        let owner = owner_of(req);
        let policy_param = policy_name(&name);
        let descriptor = self.ours(&name, &owner).await?;
        let policy_raw = self.ours(&policy_param, &owner).await?;
        let policy = policy_raw
            .as_deref()
            .and_then(|v| serde_json::from_str::<Policy>(v).ok());
        if descriptor.is_none() && policy_raw.is_none() {
            info!(parameter = %name, "already gone");
            return Ok(done);
        }
        let service_id = policy.as_ref().map(|p| p.service_id.clone()).or_else(|| {
            Props::new(&req.props, &["ServiceId"])
                .ok()
                .and_then(|p| p.opt_str("ServiceId").ok().flatten())
        });
        let mut svc = match &service_id {
            Some(id) => self.cloud.describe_service(id).await?,
            None => None,
        };
        if let Some(s) = &svc {
            let live: Vec<Connection> = self
                .cloud
                .connections(&s.service_id)
                .await?
                .into_iter()
                .filter(Connection::is_live)
                .collect();
            if !live.is_empty() {
                match on_delete(&req.props) {
                    OnDelete::Fail => {
                        return Err(Error::Conflict(connected_reason(&s.service_id, &live)))
                    }
                    OnDelete::Reject => {
                        let ids: Vec<String> = live.iter().map(|c| c.endpoint_id.clone()).collect();
                        self.cloud.reject_connections(&s.service_id, &ids).await?;
                        info!(service = %s.service_id, rejected = ?ids, "connections rejected");
                    }
                }
            }
            // Consumers' certificates go with the publication (contract §5).
            if let Some(p) = policy
                .as_ref()
                .filter(|p| !p.certificate_requests.is_empty())
            {
                let (prefix, key) = name.rsplit_once('/').unwrap_or_default();
                let desk = Desk::new(self.cloud.clone(), prefix, &self.bus);
                let n = desk.release_service(key).await?;
                info!(service = %p.service_id, released = n, "consumer certificates released");
            }
            // Principals and notification go with the service; take them back while it lives.
            if let Some(p) = policy.as_ref().filter(|p| p.service_id == s.service_id) {
                self.release_access(p).await?;
            }
        }
        if let Some(record) = policy.as_ref().and_then(|p| p.private_dns_record.as_ref()) {
            let released = match svc.as_mut() {
                Some(s) => self.release_private_dns(s, record).await,
                None => {
                    dns::remove_records(&*self.cloud, &record.zone_id, &[record.record()]).await
                }
            };
            match released {
                Ok(()) => {}
                Err(e) if dns::busy(&e) => {
                    return Ok(Step::Wait {
                        progress: Value::Null,
                        after: dns::BUSY_POLL,
                        waiting_for: dns::waiting_for_zone(&record.zone_id),
                    })
                }
                Err(e) => return Err(e),
            }
        }
        // The descriptor goes first so consumers stop seeing the service before its policy goes.
        if descriptor.is_some() {
            self.cloud.delete(&name).await?;
            info!(parameter = %name, "deleted");
        }
        if policy_raw.is_some() {
            self.cloud.delete(&policy_param).await?;
            info!(parameter = %policy_param, "deleted");
        }
        Ok(done)
    }
}
