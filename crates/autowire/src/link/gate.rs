//! The deploy gate: the probe in the VPC reaches the service through every name, or the link fails.

use super::*;

/// The probe's input for a link: every name clients may use, on every port of the service. TLS
/// ports check the certificate against the alias (or the service's first TLS name).
pub(super) fn probe_request(
    spec: &Spec,
    plan: &Plan,
    endpoint: &Endpoint,
    zone_ids_by_name: &BTreeMap<String, String>,
) -> Value {
    let server_name = spec.alias_name.clone().or_else(|| {
        plan.descriptor
            .tls_names
            .iter()
            .find(|n| !n.starts_with("*."))
            .cloned()
    });
    let mut hosts: Vec<(String, Option<String>)> = Vec::new();
    if let Some(alias) = &spec.alias_name {
        hosts.push((alias.clone(), None));
    }
    if let Some(regional) = endpoint.regional_dns_name() {
        hosts.push((regional.to_string(), None));
    }
    for zonal in endpoint.zonal_dns_names() {
        let az = zone_ids_by_name
            .iter()
            .find(|(name, _)| zonal.contains(&format!("-{name}.")))
            .map(|(_, id)| id.clone());
        hosts.push((zonal, az));
    }
    let mut targets = Vec::new();
    for (host, az_id) in &hosts {
        for port in &plan.descriptor.ports {
            let mut t = serde_json::json!({
                "host": host,
                "port": port.port,
                "service_key": plan.descriptor.key,
            });
            if let Some(az) = az_id {
                t["az_id"] = Value::String(az.clone());
            }
            if let (Protocol::Tls, Some(name)) = (port.protocol, &server_name) {
                t["tls"] = serde_json::json!({
                    "server_name": name,
                    "expect_names": spec.alias_name.iter().collect::<Vec<_>>(),
                });
            }
            if port.protocol != Protocol::Udp {
                targets.push(t);
            }
        }
    }
    serde_json::json!({ "targets": targets, "timeout_ms": 20_000 })
}

impl<C: ConsumerCloud> Link<C> {
    /// The deploy gate: ask the probe in the VPC to reach the service through the alias, the
    /// regional name and each zonal name, and fail with its finding.
    pub(super) async fn gate(
        &self,
        probe: &str,
        spec: &Spec,
        plan: &Plan,
        endpoint: &Endpoint,
    ) -> Result<()> {
        let payload = probe_request(spec, plan, endpoint, &self.cloud.zone_ids_by_name().await?);
        let report = self.cloud.invoke(probe, payload).await.map_err(|e| {
            Error::failed(
                "the reachability probe could not run",
                format!(
                    "check ProbeFunctionArn and that this function may invoke it ({}): {probe}",
                    e.aws_code().unwrap_or("error")
                ),
            )
        })?;
        if report["ok"].as_bool() == Some(true) {
            info!(
                probe,
                targets = report["summary"]["total"].as_u64(),
                "reachability verified"
            );
            return Ok(());
        }
        let finding = report["targets"]
            .as_array()
            .and_then(|ts| ts.iter().find(|t| t["ok"].as_bool() != Some(true)))
            .map(|t| {
                let message = t["error"]["message"].as_str().unwrap_or("unreachable");
                match t["az_id"].as_str() {
                    Some(az) => format!("{message} in {az}"),
                    None => message.to_string(),
                }
            })
            .unwrap_or_else(|| "the probe's report says unreachable".into());
        Err(Error::failed(
            format!("reachability check failed: {finding}"),
            "fix that (certificate names, listener, security groups), or deploy with VerifyReachability false",
        ))
    }
}
