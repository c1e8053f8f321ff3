//! The alias CNAME and the private zones the link owns for it.

use super::*;

impl<C: ConsumerCloud> Link<C> {
    /// The zone the alias goes in: the given one, or the link's own private zone for the alias's
    /// parent domain.
    pub(super) async fn alias_zone(
        &self,
        req: &Request,
        spec: &Spec,
        plan: &Plan,
        owned: &[(HostedZone, BTreeMap<String, String>)],
        alias: &str,
    ) -> Result<String> {
        if let Some(z) = &spec.alias_zone_id {
            dns::zone_holding(&*self.cloud, z, "AliasHostedZoneId", &[alias.to_string()]).await?;
            return Ok(z.clone());
        }
        let parent = names::parent(alias);
        if let Some((z, _)) = owned.iter().find(|(z, _)| z.name == parent) {
            return Ok(z.id.clone());
        }
        // Route 53 never takes a caller reference twice, even after the zone is deleted: one per
        // request, so a retried pass of the same request finds its zone again.
        let mut h = Sha256::new();
        for part in [&plan.link_id, &parent, &req.request_id] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        let reference = format!("{}-{}", plan.link_id, &hex::encode(h.finalize())[..16]);
        let zone = match self
            .cloud
            .create_private_zone(&parent, &spec.vpc_id, &reference, &plan.tags)
            .await
        {
            Ok(z) => z,
            Err(e) if e.aws_code() == Some("ConflictingDomainExists") => {
                return Err(Error::Conflict(format!(
                    "VPC {} already has a private zone for {parent}; give its ID as AliasHostedZoneId",
                    spec.vpc_id
                )))
            }
            Err(e) => return Err(e),
        };
        info!(zone = %zone.id, name = %parent, "private hosted zone created");
        Ok(zone.id)
    }

    /// Private zones of the VPC this link owns.
    pub(super) async fn owned_zones(
        &self,
        vpc_id: &str,
        link_id: &str,
    ) -> Result<Vec<(HostedZone, BTreeMap<String, String>)>> {
        Ok(self
            .cloud
            .zones_of_vpc(vpc_id)
            .await?
            .into_iter()
            .filter(|(_, tags)| tags.get(LINK_TAG).map(String::as_str) == Some(link_id))
            .collect())
    }

    /// Remove a CNAME `alias` from `zone` if it points at one of `targets`.
    pub(super) async fn remove_alias(
        &self,
        zone: &str,
        alias: &str,
        targets: &[String],
        owned_zone: bool,
    ) -> Result<()> {
        let name = alias.trim_end_matches('.').to_ascii_lowercase();
        if let Some(r) = self.cloud.record(zone, &name, RecordType::Cname).await? {
            let ours = owned_zone
                || r.values.iter().any(|v| {
                    targets
                        .iter()
                        .any(|t| v.trim_end_matches('.') == t.trim_end_matches('.'))
                });
            if ours {
                dns::remove_records(&*self.cloud, zone, &[r]).await?;
                info!(zone, alias = %name, "alias removed");
            }
        }
        Ok(())
    }

    pub(super) async fn delete_zone(&self, zone_id: &str) -> Result<()> {
        match self.cloud.delete_zone(zone_id).await {
            Ok(()) => {
                info!(zone = zone_id, "private hosted zone deleted");
                Ok(())
            }
            Err(e) if e.aws_code() == Some("HostedZoneNotEmpty") => {
                warn!(
                    zone = zone_id,
                    "zone holds records the link did not write; left in place"
                );
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}
