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
        let alias = spec.as_ref().and_then(|s| s.alias_name.as_deref());
        let removed = match (alias, spec.as_ref().and_then(|s| s.alias_zone_id.as_ref())) {
            (Some(alias), Some(z)) => self.remove_alias(z, alias, &targets, false).await,
            _ => self.drop_aliases(&owned, &link_id, alias, &targets).await,
        };
        if let Err(e) = removed {
            return or_wait(e, "the alias removal");
        }
        if let Some(s) = spec
            .as_ref()
            .filter(|s| s.alias_certificate == AliasCertificate::Request)
        {
            if let Err(e) = self.release_certificate(s, &link_id, &endpoints).await {
                return or_wait(e, "the certificate's release");
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
        for (z, tags) in &owned {
            self.leave_zone(z, tags, &link_id).await?;
        }
        self.drop_record(&link_id).await?;
        Ok(done)
    }

    /// The alias this link keeps in each of its shared zones.
    async fn drop_aliases(
        &self,
        owned: &[(HostedZone, BTreeMap<String, String>)],
        link_id: &str,
        alias: Option<&str>,
        targets: &[String],
    ) -> Result<()> {
        for (z, tags) in owned {
            if let Some(kept) = shared_zone::kept_alias(tags, link_id, alias) {
                self.drop_alias_in(z, tags, link_id, &kept, targets).await?;
            }
        }
        Ok(())
    }
}
