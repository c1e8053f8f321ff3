//! What an Update leaves behind: the previous alias, endpoints of a previous service, groups no longer used.

use super::*;

impl<C: ConsumerCloud> Link<C> {
    pub(super) async fn tidy(
        &self,
        req: &Request,
        spec: &Spec,
        plan: &Plan,
        owned: &[(HostedZone, BTreeMap<String, String>)],
        endpoint: &Endpoint,
        existing: &[Endpoint],
    ) -> Result<()> {
        let targets: Vec<String> = existing
            .iter()
            .chain(std::iter::once(endpoint))
            .flat_map(|e| e.dns_names.clone())
            .collect();
        if let Some(old) = req.old_props.as_ref().and_then(|p| Spec::parse(p).ok()) {
            let moved =
                old.alias_name != spec.alias_name || old.alias_zone_id != spec.alias_zone_id;
            if let (Some(alias), true) = (&old.alias_name, moved) {
                match &old.alias_zone_id {
                    Some(z) => self.remove_alias(z, alias, &targets, false).await?,
                    None => {
                        let parent = names::parent(alias);
                        if let Some((z, tags)) = owned.iter().find(|(z, _)| z.name == parent) {
                            let link = &plan.link_id;
                            self.drop_alias_in(z, tags, link, alias, &targets).await?;
                        }
                    }
                }
            }
        }
        // Shared zones no longer holding the alias: leave them (the last link out deletes).
        let keep = spec
            .alias_name
            .as_deref()
            .filter(|_| spec.alias_zone_id.is_none())
            .map(names::parent);
        for (z, tags) in owned {
            if keep.as_deref() != Some(z.name.as_str()) {
                if let Some(alias) = shared_zone::kept_alias(tags, &plan.link_id, None) {
                    self.drop_alias_in(z, tags, &plan.link_id, &alias, &targets)
                        .await?;
                }
                self.leave_zone(z, tags, &plan.link_id).await?;
            }
        }
        for old in existing
            .iter()
            .filter(|e| e.id != endpoint.id && !e.is_gone())
        {
            self.cloud.delete_endpoint(&old.id).await?;
            info!(endpoint = %old.id, service = %old.service_name, "previous endpoint deleted");
        }
        if !spec.security_group_ids.is_empty() {
            for g in self.cloud.groups_tagged(LINK_TAG, &plan.link_id).await? {
                if let Err(e) = self.cloud.delete_group(&g.id).await {
                    // Still attached for a moment after the endpoint let go of it: next time.
                    warn!(group = %g.id, error = %e, "previous security group not deleted yet");
                }
            }
        }
        Ok(())
    }
}
