//! The provider's acceptance as the fake models it: pending connections across services,
//! accept (only from `pendingAcceptance`), allowed principals (a set per service) and connection
//! notifications (`vpce-nfn-…`, to an SNS topic ARN).

use std::collections::{BTreeMap, BTreeSet};

use super::{no_service, FakeCloud};
use crate::aws::{Connection, ConnectionEvent, ConnectionNotification, NotificationState};
use crate::error::{Error, Result};

#[derive(Default)]
pub struct ProviderState {
    /// Allowed principals per service.
    pub principals: BTreeMap<String, BTreeSet<String>>,
    /// Connection notifications by ID.
    pub notifications: BTreeMap<String, ConnectionNotification>,
}

impl FakeCloud {
    /// The service's allowed principals, sorted.
    pub fn principals_of(&self, service_id: &str) -> Vec<String> {
        let s = self.state.lock().unwrap();
        let set = s.provider.principals.get(service_id);
        set.map(|p| p.iter().cloned().collect()).unwrap_or_default()
    }

    /// A principal someone else allowed (by hand, or another tool).
    pub fn allow(&self, service_id: &str, principal: &str) {
        let mut s = self.state.lock().unwrap();
        let set = s.provider.principals.entry(service_id.to_string());
        set.or_default().insert(principal.to_string());
    }

    /// The service's connection notifications.
    pub fn notifications_on(&self, service_id: &str) -> Vec<ConnectionNotification> {
        let s = self.state.lock().unwrap();
        let all = s.provider.notifications.values();
        all.filter(|n| n.service_id == service_id)
            .cloned()
            .collect()
    }

    /// The state of one connection, if the service has it.
    pub fn connection_state(&self, service_id: &str, endpoint_id: &str) -> Option<String> {
        let s = self.state.lock().unwrap();
        let conns = s.connections.get(service_id)?;
        let c = conns.iter().find(|c| c.endpoint_id == endpoint_id)?;
        Some(c.state.clone())
    }

    pub(super) async fn pending(&self) -> Result<Vec<Connection>> {
        self.call("ec2:DescribeVpcEndpointConnections", false)
            .await?;
        let s = self.state.lock().unwrap();
        let all = s.connections.values().flatten();
        let pending = all.filter(|c| c.state == "pendingAcceptance");
        Ok(pending.cloned().collect())
    }

    /// Accept pending connections; one that is not pending is refused, as EC2 does.
    pub(super) async fn accept(&self, service_id: &str, ids: &[String]) -> Result<()> {
        const OP: &str = "ec2:AcceptVpcEndpointConnections";
        self.call(OP, true).await?;
        let mut s = self.state.lock().unwrap();
        if !s.services.contains_key(service_id) {
            return Err(no_service(OP, service_id));
        }
        let conns = s.connections.entry(service_id.to_string()).or_default();
        for id in ids {
            match conns.iter_mut().find(|c| &c.endpoint_id == id) {
                Some(c) if c.state == "pendingAcceptance" => c.state = "available".into(),
                Some(c) => {
                    let why = format!("{id}: in state {} and can't be accepted", c.state);
                    return Err(Error::aws(OP, "InvalidState", why));
                }
                None => {
                    let why = format!("{id}: The Vpc Endpoint Id '{id}' does not exist");
                    return Err(Error::aws(OP, "InvalidVpcEndpointId.NotFound", why));
                }
            }
        }
        Ok(())
    }

    pub(super) async fn principals(&self, service_id: &str) -> Result<Vec<String>> {
        const OP: &str = "ec2:DescribeVpcEndpointServicePermissions";
        self.call(OP, false).await?;
        if !self.state.lock().unwrap().services.contains_key(service_id) {
            return Err(no_service(OP, service_id));
        }
        Ok(self.principals_of(service_id))
    }

    pub(super) async fn modify_principals(
        &self,
        service_id: &str,
        add: &[String],
        remove: &[String],
    ) -> Result<()> {
        const OP: &str = "ec2:ModifyVpcEndpointServicePermissions";
        self.call(OP, true).await?;
        let mut s = self.state.lock().unwrap();
        if !s.services.contains_key(service_id) {
            return Err(no_service(OP, service_id));
        }
        let set = s.provider.principals.entry(service_id.to_string());
        let set = set.or_default();
        set.extend(add.iter().cloned());
        set.retain(|p| !remove.contains(p));
        Ok(())
    }

    pub(super) async fn notifications(
        &self,
        service_id: &str,
    ) -> Result<Vec<ConnectionNotification>> {
        self.call("ec2:DescribeVpcEndpointConnectionNotifications", false)
            .await?;
        Ok(self.notifications_on(service_id))
    }

    pub(super) async fn create_notification(
        &self,
        service_id: &str,
        topic_arn: &str,
        events: &[ConnectionEvent],
    ) -> Result<String> {
        const OP: &str = "ec2:CreateVpcEndpointConnectionNotification";
        self.call(OP, true).await?;
        let mut s = self.state.lock().unwrap();
        if !s.services.contains_key(service_id) {
            return Err(no_service(OP, service_id));
        }
        if !topic_arn.starts_with("arn:aws:sns:") || events.is_empty() {
            let why = format!("{topic_arn} is not an SNS topic ARN, or no events given");
            return Err(Error::aws(OP, "InvalidParameter", why));
        }
        s.next_id += 1;
        let id = format!("vpce-nfn-{:017x}", s.next_id);
        let n = ConnectionNotification {
            id: id.clone(),
            service_id: service_id.to_string(),
            topic_arn: topic_arn.to_string(),
            events: events.to_vec(),
            state: NotificationState::Enabled,
        };
        s.provider.notifications.insert(id.clone(), n);
        Ok(id)
    }

    pub(super) async fn delete_notifications(&self, ids: &[String]) -> Result<()> {
        self.call("ec2:DeleteVpcEndpointConnectionNotifications", true)
            .await?;
        let mut s = self.state.lock().unwrap();
        s.provider.notifications.retain(|id, _| !ids.contains(id));
        Ok(())
    }
}
