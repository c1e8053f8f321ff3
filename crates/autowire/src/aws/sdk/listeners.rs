//! ELBv2 adapter: NLB listeners, their ports and their certificates.

use async_trait::async_trait;

use super::{code_of, sdk_error, Sdk};
use crate::aws::{Listener, Listeners};
use crate::descriptor::{Port, Protocol};
use crate::error::{Error, Operation, Result};

#[async_trait]
impl Listeners for Sdk {
    async fn listener_ports(&self, load_balancer_arns: &[String]) -> Result<Vec<Port>> {
        const OP: Operation = "elasticloadbalancing:DescribeListeners";
        let mut ports = Vec::new();
        for arn in load_balancer_arns {
            let mut marker: Option<String> = None;
            loop {
                let out = self
                    .elbv2
                    .describe_listeners()
                    .load_balancer_arn(arn)
                    .set_marker(marker.take())
                    .send()
                    .await
                    .map_err(|e| sdk_error(OP, e))?;
                for l in out.listeners() {
                    let (Some(port), Some(proto)) = (l.port(), l.protocol()) else {
                        continue;
                    };
                    let protocol: Protocol = proto.as_str().parse().map_err(|e: String| {
                        Error::invalid(
                            "Ports",
                            format!("listener on {port}: {e}; set Ports explicitly"),
                        )
                    })?;
                    if let Ok(port) = u16::try_from(port) {
                        ports.push(Port { port, protocol });
                    }
                }
                match out.next_marker() {
                    Some(m) if !m.is_empty() => marker = Some(m.to_string()),
                    _ => break,
                }
            }
        }
        ports.sort();
        ports.dedup();
        Ok(ports)
    }

    async fn listener(&self, listener_arn: &str) -> Result<Option<Listener>> {
        let out = match self
            .elbv2
            .describe_listeners()
            .listener_arns(listener_arn)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if code_of(&e) == Some("ListenerNotFound") => return Ok(None),
            Err(e) => return Err(sdk_error("elasticloadbalancing:DescribeListeners", e)),
        };
        let Some(l) = out.listeners().first() else {
            return Ok(None);
        };
        let protocol = l
            .protocol()
            .map(|p| p.as_str().to_string())
            .unwrap_or_default();
        let mut listener = Listener {
            arn: listener_arn.to_string(),
            load_balancer_arn: l.load_balancer_arn().unwrap_or_default().to_string(),
            protocol,
            default_certificate: None,
            extra_certificates: Vec::new(),
        };
        if !listener.takes_certificates() {
            return Ok(Some(listener));
        }
        let mut marker: Option<String> = None;
        loop {
            let page = self
                .elbv2
                .describe_listener_certificates()
                .listener_arn(listener_arn)
                .set_marker(marker.take())
                .send()
                .await
                .map_err(|e| sdk_error("elasticloadbalancing:DescribeListenerCertificates", e))?;
            for c in page.certificates() {
                let Some(arn) = c.certificate_arn() else {
                    continue;
                };
                if c.is_default() == Some(true) {
                    listener.default_certificate = Some(arn.to_string());
                } else if !listener.extra_certificates.iter().any(|x| x == arn) {
                    listener.extra_certificates.push(arn.to_string());
                }
            }
            match page.next_marker() {
                Some(m) if !m.is_empty() => marker = Some(m.to_string()),
                _ => return Ok(Some(listener)),
            }
        }
    }

    async fn listeners_of(&self, load_balancer_arn: &str) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = match self
                .elbv2
                .describe_listeners()
                .load_balancer_arn(load_balancer_arn)
                .set_marker(marker.take())
                .send()
                .await
            {
                Ok(p) => p,
                Err(e) if code_of(&e) == Some("LoadBalancerNotFound") => return Ok(out),
                Err(e) => return Err(sdk_error("elasticloadbalancing:DescribeListeners", e)),
            };
            out.extend(
                page.listeners()
                    .iter()
                    .filter_map(|l| l.listener_arn().map(str::to_string)),
            );
            match page.next_marker() {
                Some(m) if !m.is_empty() => marker = Some(m.to_string()),
                _ => return Ok(out),
            }
        }
    }

    async fn set_default_certificate(
        &self,
        listener_arn: &str,
        certificate_arn: &str,
    ) -> Result<()> {
        self.elbv2
            .modify_listener()
            .listener_arn(listener_arn)
            .certificates(elb_certificate(certificate_arn))
            .send()
            .await
            .map_err(|e| sdk_error("elasticloadbalancing:ModifyListener", e))?;
        Ok(())
    }

    async fn add_certificate(&self, listener_arn: &str, certificate_arn: &str) -> Result<()> {
        self.elbv2
            .add_listener_certificates()
            .listener_arn(listener_arn)
            .certificates(elb_certificate(certificate_arn))
            .send()
            .await
            .map_err(|e| sdk_error("elasticloadbalancing:AddListenerCertificates", e))?;
        Ok(())
    }

    async fn remove_certificate(&self, listener_arn: &str, certificate_arn: &str) -> Result<()> {
        match self
            .elbv2
            .remove_listener_certificates()
            .listener_arn(listener_arn)
            .certificates(elb_certificate(certificate_arn))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            // Already off the listener (or the listener is gone): nothing to remove.
            Err(e)
                if matches!(
                    code_of(&e),
                    Some("CertificateNotFound" | "ListenerNotFound")
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(sdk_error(
                "elasticloadbalancing:RemoveListenerCertificates",
                e,
            )),
        }
    }
}

fn elb_certificate(arn: &str) -> aws_sdk_elasticloadbalancingv2::types::Certificate {
    aws_sdk_elasticloadbalancingv2::types::Certificate::builder()
        .certificate_arn(arn)
        .build()
}
