//! The link's own security group: exactly the descriptor's ports from the allowed sources.

use super::*;

/// The ingress rules that admit the service's ports from the given sources.
pub fn ingress_rules(desc: &Descriptor, sources: &[RuleSource]) -> Vec<IngressRule> {
    let mut rules = Vec::new();
    for p in &desc.ports {
        let protocols: &[&str] = match p.protocol {
            Protocol::Tcp | Protocol::Tls => &["tcp"],
            Protocol::Udp => &["udp"],
            Protocol::TcpUdp => &["tcp", "udp"],
        };
        for proto in protocols {
            for source in sources {
                rules.push(IngressRule {
                    protocol: proto.to_string(),
                    port: p.port,
                    source: source.clone(),
                });
            }
        }
    }
    rules.sort();
    rules.dedup();
    rules
}

impl<C: ConsumerCloud> Link<C> {
    /// The link's own security group, with exactly the wanted ingress and no egress (an
    /// endpoint's interfaces only answer; they never start a connection). Returns its ID.
    pub(super) async fn ensure_group(&self, spec: &Spec, plan: &Plan) -> Result<String> {
        let want = ingress_rules(&plan.descriptor, &plan.sources);
        let group = match self
            .cloud
            .groups_tagged(LINK_TAG, &plan.link_id)
            .await?
            .into_iter()
            .find(|g| g.vpc_id == spec.vpc_id)
        {
            Some(g) => g,
            None => self.new_group(spec, plan).await?,
        };
        if !group.egress.is_empty() {
            self.cloud.revoke_egress(&group.id, &group.egress).await?;
            info!(group = %group.id, rules = group.egress.len(), "egress removed");
        }
        let add: Vec<IngressRule> = want
            .iter()
            .filter(|r| !group.rules.contains(r))
            .cloned()
            .collect();
        let remove: Vec<IngressRule> = group
            .rules
            .iter()
            .filter(|r| !want.contains(r))
            .cloned()
            .collect();
        if !add.is_empty() {
            self.cloud.authorize(&group.id, &add).await?;
            info!(group = %group.id, rules = add.len(), "ingress added");
        }
        if !remove.is_empty() {
            self.cloud.revoke(&group.id, &remove).await?;
            info!(group = %group.id, rules = remove.len(), "ingress removed");
        }
        Ok(group.id)
    }

    /// Create the link's group and read it back by ID (its egress is AWS's defaults; tag
    /// lookups may not see a new group yet). Not readable yet: the default AWS documents.
    async fn new_group(&self, spec: &Spec, plan: &Plan) -> Result<SecurityGroup> {
        let id = self
            .cloud
            .create_group(
                &spec.vpc_id,
                &format!("privatelink-autowire-{}", plan.link_id),
                &format!(
                    "privatelink-autowire link to {} ({})",
                    plan.descriptor.key, plan.descriptor.service_name
                ),
                &plan.tags,
            )
            .await?;
        info!(group = %id, "security group created");
        Ok(self.cloud.group(&id).await?.unwrap_or(SecurityGroup {
            id,
            vpc_id: spec.vpc_id.clone(),
            rules: Vec::new(),
            egress: vec![EgressRule::aws_default()],
        }))
    }
}
