//! EC2 adapter for the provider's endpoint services: the service and its private DNS name,
//! endpoint connections (listed, accepted, rejected), the allowed principals and the connection
//! notifications.

use async_trait::async_trait;
use aws_sdk_ec2::types::{ConnectionNotificationState, Filter, UnsuccessfulItem};

use super::{code_of, sdk_error, Sdk};
use crate::aws::{
    Connection, ConnectionEvent, ConnectionNotification, EndpointService, EndpointServices,
    NotificationState, Verification,
};
use crate::descriptor::PrivateDns;
use crate::error::{Error, Operation, Result};

fn filter(name: &str, value: &str) -> Filter {
    Filter::builder().name(name).values(value).build()
}

/// The first item EC2 could not act on, as an error; items `gone` says are already done count
/// as success.
fn unsuccessful(op: Operation, items: &[UnsuccessfulItem], gone: fn(&str) -> bool) -> Result<()> {
    let failed = items.iter().find(|item| {
        let code = item.error().and_then(|e| e.code()).unwrap_or("Unknown");
        !gone(code)
    });
    match failed {
        None => Ok(()),
        Some(item) => {
            let err = item.error();
            Err(Error::aws(
                op,
                err.and_then(|e| e.code()).unwrap_or("Unknown"),
                format!(
                    "{}: {}",
                    item.resource_id().unwrap_or_default(),
                    err.and_then(|e| e.message()).unwrap_or("not done")
                ),
            ))
        }
    }
}

/// Accept or reject: two operations with the same shape and different types.
macro_rules! decide {
    ($sdk:expr, $call:ident, $op:expr, $service_id:expr, $ids:expr) => {{
        let sent = $sdk
            .ec2
            .$call()
            .service_id($service_id)
            .set_vpc_endpoint_ids(Some($ids.to_vec()))
            .send()
            .await;
        let out = sent.map_err(|e| sdk_error($op, e))?;
        unsuccessful($op, out.unsuccessful(), |_| false)
    }};
}

fn connection_of(c: &aws_sdk_ec2::types::VpcEndpointConnection) -> Connection {
    Connection {
        service_id: c.service_id().unwrap_or_default().to_string(),
        endpoint_id: c.vpc_endpoint_id().unwrap_or_default().to_string(),
        owner: c.vpc_endpoint_owner().unwrap_or_default().to_string(),
        state: c
            .vpc_endpoint_state()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
    }
}

fn notification_of(n: &aws_sdk_ec2::types::ConnectionNotification) -> ConnectionNotification {
    ConnectionNotification {
        id: n
            .connection_notification_id()
            .unwrap_or_default()
            .to_string(),
        service_id: n.service_id().unwrap_or_default().to_string(),
        topic_arn: n
            .connection_notification_arn()
            .unwrap_or_default()
            .to_string(),
        events: n
            .connection_events()
            .iter()
            .filter_map(|e| ConnectionEvent::parse(e))
            .collect(),
        state: match n.connection_notification_state() {
            Some(ConnectionNotificationState::Disabled) => NotificationState::Disabled,
            _ => NotificationState::Enabled,
        },
    }
}

impl Sdk {
    /// DescribeVpcEndpointConnections with one filter, every page.
    async fn describe_connections(&self, by: Filter) -> Result<Vec<Connection>> {
        let mut pages = self
            .ec2
            .describe_vpc_endpoint_connections()
            .filters(by)
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| sdk_error("ec2:DescribeVpcEndpointConnections", e))?;
            out.extend(page.vpc_endpoint_connections().iter().map(connection_of));
        }
        Ok(out)
    }
}

#[async_trait]
impl EndpointServices for Sdk {
    async fn describe_service(&self, service_id: &str) -> Result<Option<EndpointService>> {
        const OP: Operation = "ec2:DescribeVpcEndpointServiceConfigurations";
        let out = match self
            .ec2
            .describe_vpc_endpoint_service_configurations()
            .service_ids(service_id)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if code_of(&e).is_some_and(|c| c.starts_with("InvalidVpcEndpointService")) => {
                return Ok(None)
            }
            Err(e) => return Err(sdk_error(OP, e)),
        };
        Ok(out
            .service_configurations()
            .iter()
            .find(|s| s.service_id() == Some(service_id))
            .map(|s| EndpointService {
                service_id: service_id.to_string(),
                service_name: s.service_name().unwrap_or_default().to_string(),
                az_names: s.availability_zones().to_vec(),
                acceptance_required: s.acceptance_required().unwrap_or(false),
                nlb_arns: s.network_load_balancer_arns().to_vec(),
                private_dns: s.private_dns_name().filter(|n| !n.is_empty()).map(|name| {
                    PrivateDns {
                        name: name.to_string(),
                        state: s
                            .private_dns_name_configuration()
                            .and_then(|c| c.state())
                            .map(|st| st.as_str().to_string())
                            .unwrap_or_else(|| "pendingVerification".into()),
                    }
                }),
                verification: s
                    .private_dns_name_configuration()
                    .filter(|_| s.private_dns_name().is_some_and(|n| !n.is_empty()))
                    .and_then(|c| {
                        Some(Verification {
                            name: c.name().filter(|n| !n.is_empty())?.to_string(),
                            value: c.value().filter(|v| !v.is_empty())?.to_string(),
                        })
                    }),
            }))
    }

    async fn set_private_dns_name(&self, service_id: &str, name: Option<&str>) -> Result<()> {
        let call = self
            .ec2
            .modify_vpc_endpoint_service_configuration()
            .service_id(service_id);
        let call = match name {
            Some(n) => call.private_dns_name(n),
            None => call.remove_private_dns_name(true),
        };
        call.send()
            .await
            .map_err(|e| sdk_error("ec2:ModifyVpcEndpointServiceConfiguration", e))?;
        Ok(())
    }

    async fn start_private_dns_verification(&self, service_id: &str) -> Result<()> {
        self.ec2
            .start_vpc_endpoint_service_private_dns_verification()
            .service_id(service_id)
            .send()
            .await
            .map_err(|e| sdk_error("ec2:StartVpcEndpointServicePrivateDnsVerification", e))?;
        Ok(())
    }

    async fn connections(&self, service_id: &str) -> Result<Vec<Connection>> {
        self.describe_connections(filter("service-id", service_id))
            .await
    }

    async fn pending_connections(&self) -> Result<Vec<Connection>> {
        self.describe_connections(filter("vpc-endpoint-state", "pendingAcceptance"))
            .await
    }

    /// Any endpoint EC2 could not accept is an error.
    async fn accept_connections(&self, service_id: &str, ids: &[String]) -> Result<()> {
        const OP: Operation = "ec2:AcceptVpcEndpointConnections";
        decide!(self, accept_vpc_endpoint_connections, OP, service_id, ids)
    }

    /// Any endpoint EC2 could not reject is an error.
    async fn reject_connections(&self, service_id: &str, ids: &[String]) -> Result<()> {
        const OP: Operation = "ec2:RejectVpcEndpointConnections";
        decide!(self, reject_vpc_endpoint_connections, OP, service_id, ids)
    }

    async fn allowed_principals(&self, service_id: &str) -> Result<Vec<String>> {
        let mut pages = self
            .ec2
            .describe_vpc_endpoint_service_permissions()
            .service_id(service_id)
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page =
                page.map_err(|e| sdk_error("ec2:DescribeVpcEndpointServicePermissions", e))?;
            out.extend(
                page.allowed_principals()
                    .iter()
                    .filter_map(|p| p.principal().map(str::to_string)),
            );
        }
        Ok(out)
    }

    async fn change_principals(
        &self,
        service_id: &str,
        add: &[String],
        remove: &[String],
    ) -> Result<()> {
        let some = |v: &[String]| (!v.is_empty()).then(|| v.to_vec());
        self.ec2
            .modify_vpc_endpoint_service_permissions()
            .service_id(service_id)
            .set_add_allowed_principals(some(add))
            .set_remove_allowed_principals(some(remove))
            .send()
            .await
            .map_err(|e| sdk_error("ec2:ModifyVpcEndpointServicePermissions", e))?;
        Ok(())
    }

    async fn connection_notifications(
        &self,
        service_id: &str,
    ) -> Result<Vec<ConnectionNotification>> {
        let mut pages = self
            .ec2
            .describe_vpc_endpoint_connection_notifications()
            .filters(filter("service-id", service_id))
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page =
                page.map_err(|e| sdk_error("ec2:DescribeVpcEndpointConnectionNotifications", e))?;
            out.extend(
                page.connection_notification_set()
                    .iter()
                    .map(notification_of),
            );
        }
        Ok(out)
    }

    async fn create_connection_notification(
        &self,
        service_id: &str,
        topic_arn: &str,
        events: &[ConnectionEvent],
    ) -> Result<String> {
        const OP: Operation = "ec2:CreateVpcEndpointConnectionNotification";
        let out = self
            .ec2
            .create_vpc_endpoint_connection_notification()
            .service_id(service_id)
            .connection_notification_arn(topic_arn)
            .set_connection_events(Some(events.iter().map(|e| e.as_str().into()).collect()))
            .send()
            .await
            .map_err(|e| sdk_error(OP, e))?;
        out.connection_notification()
            .and_then(|n| n.connection_notification_id())
            .map(str::to_string)
            .ok_or_else(|| Error::aws(OP, "Unknown", "no notification ID in the answer"))
    }

    async fn delete_connection_notifications(&self, ids: &[String]) -> Result<()> {
        const OP: Operation = "ec2:DeleteVpcEndpointConnectionNotifications";
        let out = self
            .ec2
            .delete_vpc_endpoint_connection_notifications()
            .set_connection_notification_ids(Some(ids.to_vec()))
            .send()
            .await;
        let out = match out {
            Ok(out) => out,
            Err(e) if code_of(&e).is_some_and(notification_gone) => return Ok(()),
            Err(e) => return Err(sdk_error(OP, e)),
        };
        unsuccessful(OP, out.unsuccessful(), notification_gone)
    }
}

/// EC2's codes for a connection notification that does not exist.
fn notification_gone(code: &str) -> bool {
    code.starts_with("InvalidConnectionNotification") || code.ends_with(".NotFound")
}
