//! The link's interface endpoint: found by tag, changed in place, or created.

use super::*;

impl<C: ConsumerCloud> Link<C> {
    /// The endpoint for the descriptor's service: found by tag, changed in place, or created.
    pub(super) async fn ensure_endpoint(
        &self,
        spec: &Spec,
        plan: &Plan,
        groups: &[String],
        existing: &[Endpoint],
    ) -> Result<Endpoint> {
        let want_subnets: Vec<String> = plan.subnets.iter().map(|c| c.subnet_id.clone()).collect();
        let current = existing
            .iter()
            .find(|e| e.service_name == plan.descriptor.service_name && !e.is_gone());
        let Some(e) = current else {
            let new = NewEndpoint {
                vpc_id: spec.vpc_id.clone(),
                service_name: plan.descriptor.service_name.clone(),
                subnet_ids: want_subnets,
                security_group_ids: groups.to_vec(),
                private_dns_enabled: plan.private_dns,
                client_token: String::new(),
                tags: plan.tags.clone(),
            };
            return self.create_endpoint(&plan.link_id, new).await;
        };
        let mut change = EndpointChange {
            add_subnets: want_subnets
                .iter()
                .filter(|s| !e.subnet_ids.contains(s))
                .cloned()
                .collect(),
            remove_subnets: e
                .subnet_ids
                .iter()
                .filter(|s| !want_subnets.contains(s))
                .cloned()
                .collect(),
            add_groups: groups
                .iter()
                .filter(|g| !e.security_group_ids.contains(g))
                .cloned()
                .collect(),
            remove_groups: e
                .security_group_ids
                .iter()
                .filter(|g| !groups.contains(g))
                .cloned()
                .collect(),
            private_dns_enabled: (e.private_dns_enabled != plan.private_dns)
                .then_some(plan.private_dns),
            tags: Vec::new(),
        };
        for (k, v) in &plan.tags {
            if e.tags.get(k) != Some(v) {
                change.tags.push((k.clone(), v.clone()));
            }
        }
        if change.is_empty() {
            return Ok(e.clone());
        }
        self.cloud.modify_endpoint(&e.id, &change).await?;
        info!(endpoint = %e.id, change = ?change, "endpoint changed in place");
        if change.only_tags() {
            // Nothing EC2 answers with changed, but the tags we just set.
            let mut tagged = e.clone();
            tagged.tags.extend(change.tags);
            return Ok(tagged);
        }
        Ok(self
            .cloud
            .endpoint(&e.id)
            .await?
            .unwrap_or_else(|| e.clone()))
    }

    /// Create the endpoint with a ClientToken that depends only on the link and the service, so
    /// every caller converging the same link (a stack operation, its retries, the reconciler)
    /// gets the one endpoint EC2 made for the first of them. A token EC2 answers with an endpoint
    /// that is already gone (the service was left and came back) is followed by the next one in
    /// a chain salted with that endpoint's ID: the same chain for every caller.
    async fn create_endpoint(&self, link_id: &str, mut new: NewEndpoint) -> Result<Endpoint> {
        let mut salt = String::new();
        for _ in 0..MAX_TOKEN_CHAIN {
            new.client_token = client_token(link_id, &new.service_name, &salt);
            let created = self.cloud.create_endpoint(&new).await?;
            if !created.is_gone() {
                info!(endpoint = %created.id, service = %created.service_name, "endpoint created");
                return Ok(created);
            }
            info!(endpoint = %created.id, "token answered with a gone endpoint; next token");
            salt = created.id;
        }
        Err(Error::failed(
            format!("EC2 answered {MAX_TOKEN_CHAIN} client tokens with deleted endpoints"),
            "wait a few minutes for EC2 to forget them, then retry the deploy",
        ))
    }
}

/// How many gone endpoints a create follows before it gives up.
const MAX_TOKEN_CHAIN: usize = 8;

/// CreateVpcEndpoint's ClientToken for a link, a service and a salt (empty first).
pub(super) fn client_token(link_id: &str, service_name: &str, salt: &str) -> String {
    let mut h = Sha256::new();
    for part in [link_id, service_name, salt] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())[..32].to_string()
}
