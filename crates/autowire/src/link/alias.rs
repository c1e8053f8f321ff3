//! The alias CNAME and the private zones the link owns for it.

use super::*;

impl<C: ConsumerCloud> Link<C> {
    /// The zone the alias goes in: the given one (the plan checked it), or the
    /// private zone links share for the alias's parent domain, joined or made.
    pub(super) async fn alias_zone(
        &self,
        req: &Request,
        spec: &Spec,
        plan: &Plan,
        owned: &[(HostedZone, BTreeMap<String, String>)],
        alias: &str,
    ) -> Result<String> {
        if let Some(z) = &spec.alias_zone_id {
            // Checked by the plan: private, the VPC's, holding the alias.
            return Ok(z.clone());
        }
        let parent = names::parent(alias);
        let found = match owned.iter().find(|(z, _)| z.name == parent) {
            Some(member) => Some(member.clone()),
            None => self.joinable_zone(&spec.vpc_id, &parent).await?,
        };
        match found {
            Some((zone, tags)) => {
                self.join(&zone, &tags, &plan.link_id, alias).await?;
                Ok(zone.id)
            }
            None => self.create_zone(req, spec, plan, &parent, alias).await,
        }
    }

    /// A zone given as AliasHostedZoneId: it holds the alias, and it is private and associated
    /// with the link's VPC. An alias is never written into public DNS.
    pub(super) async fn given_zone(&self, spec: &Spec, zone_id: &str, alias: &str) -> Result<()> {
        const PROPERTY: &str = "AliasHostedZoneId";
        let zone = dns::zone_holding(&*self.cloud, zone_id, PROPERTY, &[alias.to_string()]).await?;
        let vpc = &spec.vpc_id;
        if !zone.private {
            return Err(Error::invalid(
                PROPERTY,
                format!(
                    "{zone_id} ({}) is a public zone; the alias goes only in a private zone associated with {vpc}: give one, or leave AliasHostedZoneId out",
                    zone.name
                ),
            ));
        }
        let zones = self.cloud.zones_of_vpc(vpc).await?;
        if !zones.iter().any(|(z, _)| z.id == zone_id) {
            return Err(Error::invalid(
                PROPERTY,
                format!(
                    "{zone_id} ({}) is not associated with {vpc}; associate it with the VPC, or leave AliasHostedZoneId out",
                    zone.name
                ),
            ));
        }
        Ok(())
    }

    /// The alias CNAME to the endpoint's regional name, in its zone.
    pub(super) async fn write_alias(
        &self,
        req: &Request,
        spec: &Spec,
        plan: &Plan,
        owned: &[(HostedZone, BTreeMap<String, String>)],
        alias: &str,
        regional: &str,
    ) -> Result<()> {
        let zone = self.alias_zone(req, spec, plan, owned, alias).await?;
        let record = RecordSet::new(alias, RecordType::Cname, regional);
        dns::ensure_records(&*self.cloud, &zone, &[record]).await?;
        Ok(())
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

    /// Delete a zone; `false` when Route 53 refused because records are still in it.
    pub(super) async fn delete_zone(&self, zone_id: &str) -> Result<bool> {
        match self.cloud.delete_zone(zone_id).await {
            Ok(()) => {
                info!(zone = zone_id, "private hosted zone deleted");
                Ok(true)
            }
            Err(e) if e.aws_code() == Some("HostedZoneNotEmpty") => {
                warn!(
                    zone = zone_id,
                    "zone still holds records (a link joining it, or records no link wrote); left in place"
                );
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }
}
