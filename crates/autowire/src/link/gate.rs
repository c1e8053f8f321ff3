//! The deploy gate: the probe in the VPC reaches the service through every name, or the link fails.

use super::*;

/// The probe's input for a link: every name clients may use, on every port of the service. TLS
/// ports check the certificate against the alias (or the service's first TLS name).
pub(super) fn probe_request(
    spec: &Spec,
    plan: &Plan,
    endpoint: &Endpoint,
    zone_ids_by_name: &BTreeMap<String, String>,
) -> probe::Input {
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
        for port in plan
            .descriptor
            .ports
            .iter()
            .filter(|p| p.protocol != Protocol::Udp)
        {
            let tls = match (port.protocol, &server_name) {
                (Protocol::Tls, Some(name)) => Some(probe::TlsCheck {
                    server_name: Some(name.clone()),
                    expect_names: spec.alias_name.iter().cloned().collect(),
                    ca_bundle_pem: None,
                }),
                _ => None,
            };
            targets.push(probe::Target {
                service_key: Some(plan.descriptor.key.clone()),
                az_id: az_id.clone(),
                tls,
                ..probe::Target::new(host, port.port)
            });
        }
    }
    probe::Input::new(targets, GATE_TIMEOUT_MS)
}

/// The probe's time for the gate's targets.
const GATE_TIMEOUT_MS: u64 = 20_000;

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
        let input = probe_request(spec, plan, endpoint, &self.cloud.zone_ids_by_name().await?);
        let payload = serde_json::to_value(&input)
            .map_err(|e| Error::failed("the probe's input could not be built", e.to_string()))?;
        let answer = self.cloud.invoke(probe, payload).await.map_err(|e| {
            Error::failed(
                "the reachability probe could not run",
                format!(
                    "check ProbeFunctionArn and that this function may invoke it ({}): {probe}",
                    e.aws_code().unwrap_or("error")
                ),
            )
        })?;
        let report: probe::Report = serde_json::from_value(answer).map_err(|e| {
            Error::failed(
                "the reachability probe's answer is not a report this release reads",
                format!(
                    "deploy the probe and the consumer function from one release ({e}): {probe}"
                ),
            )
        })?;
        if report.ok {
            info!(
                probe,
                targets = report.summary.total,
                "reachability verified"
            );
            return Ok(());
        }
        let finding = report
            .finding()
            .unwrap_or_else(|| "the probe's report says unreachable".into());
        Err(Error::failed(
            format!("reachability check failed: {finding}"),
            "fix that (certificate names, listener, security groups), or deploy with VerifyReachability false",
        ))
    }
}
