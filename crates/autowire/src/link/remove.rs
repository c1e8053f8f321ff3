//! Delete: the alias, then the endpoints (waited out), then the link's groups and zones.

use super::*;

impl<C: ConsumerCloud> Link<C> {
    /// Delete: alias records first, then the endpoints (waited out, so groups can go), then the
    /// link's groups and zones. Only what carries the link's tag, or the alias it points at.
    pub(super) async fn remove(&self, req: &Request) -> Result<Step> {
        let link_id = req.physical_id.clone().unwrap_or_default();
        let done = Step::Done(Answer {
            physical_id: link_id.clone(),
            ..Answer::default()
        });
        if !link_id.starts_with(LINK_PREFIX) {
            warn!(physical_id = %link_id, "not a link ID; nothing of ours to delete");
            return Ok(done);
        }
        let spec = Spec::parse(&req.props).ok();
        let endpoints = self.cloud.endpoints_tagged(LINK_TAG, &link_id).await?;
        let targets: Vec<String> = endpoints.iter().flat_map(|e| e.dns_names.clone()).collect();
        let owned = match &spec {
            Some(s) => self.owned_zones(&s.vpc_id, &link_id).await?,
            None => Vec::new(),
        };
        if let Some(alias) = spec.as_ref().and_then(|s| s.alias_name.as_ref()) {
            let zones: Vec<(String, bool)> =
                match spec.as_ref().and_then(|s| s.alias_zone_id.clone()) {
                    Some(z) => vec![(z, false)],
                    None => owned.iter().map(|(z, _)| (z.id.clone(), true)).collect(),
                };
            for (zone, is_owned) in zones {
                if let Err(e) = self.remove_alias(&zone, alias, &targets, is_owned).await {
                    return or_wait(e, "the alias removal");
                }
            }
        }
        let mut waiting = Vec::new();
        for e in &endpoints {
            if !e.is_gone() {
                if let Err(err) = self.cloud.delete_endpoint(&e.id).await {
                    return or_wait(err, "the endpoint deletion");
                }
                info!(endpoint = %e.id, "endpoint deleting");
            }
            waiting.push(e.id.clone());
        }
        if !waiting.is_empty() {
            return wait(
                STATE_POLL,
                format!("endpoint(s) {} to be deleted", waiting.join(", ")),
            );
        }
        for g in self.cloud.groups_tagged(LINK_TAG, &link_id).await? {
            match self.cloud.delete_group(&g.id).await {
                Ok(()) => info!(group = %g.id, "security group deleted"),
                // The endpoint's network interfaces let go of the group a little after it is gone.
                Err(e) if e.aws_code() == Some("DependencyViolation") => {
                    return wait(
                        STATE_POLL,
                        format!("security group {} to be released", g.id),
                    )
                }
                Err(e) => return or_wait(e, "the security group deletion"),
            }
        }
        for (z, _) in owned {
            self.delete_zone(&z.id).await?;
        }
        self.drop_record(&link_id).await?;
        Ok(done)
    }
}
