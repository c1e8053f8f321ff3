//! The private zones links make for their aliases, shared by every link in the VPC whose alias
//! has that parent domain (Route 53 allows one private zone per name per VPC).
//!
//! Ownership is one tag per link on the zone (`privatelink-autowire:alias-of:<link ID>`, its
//! alias as the value), so joining and leaving each change only their own key: two links never
//! overwrite each other's membership. A link joins (tags) before it writes its record, and the
//! last one out deletes the zone. A leaver that reads "no members" while another link is
//! joining may delete the zone: Route 53 refuses while that link's record is in it
//! (`HostedZoneNotEmpty`), and a joiner that finds its zone gone makes a new one on its next
//! pass.

use super::*;

/// Marks a zone that links made for their aliases, which any link in the VPC may join.
pub const ALIAS_ZONE_TAG: &str = "privatelink-autowire:alias-zone";
/// One per link using the zone; the value is the alias the link keeps in it.
pub const MEMBER_TAG_PREFIX: &str = "privatelink-autowire:alias-of:";
/// Route 53 allows this many tags on a hosted zone.
pub const MAX_ZONE_TAGS: usize = 50;

type Tags = BTreeMap<String, String>;

pub fn member_key(link_id: &str) -> String {
    format!("{MEMBER_TAG_PREFIX}{link_id}")
}

/// The links using a zone and their aliases: the member tags, and the link tag of a zone an
/// earlier release made for one link (its alias unknown).
pub fn members(tags: &Tags) -> BTreeMap<String, Option<String>> {
    let mut out: BTreeMap<String, Option<String>> = tags
        .iter()
        .filter_map(|(k, v)| {
            Some((
                k.strip_prefix(MEMBER_TAG_PREFIX)?.to_string(),
                Some(v.clone()),
            ))
        })
        .collect();
    if let Some(legacy) = tags.get(LINK_TAG) {
        out.entry(legacy.clone()).or_insert(None);
    }
    out
}

/// The tags of the zone itself (not of a member): the mark and a name.
fn zone_own_tags(parent: &str) -> Vec<(String, String)> {
    vec![
        (ALIAS_ZONE_TAG.to_string(), "shared".to_string()),
        (
            "Name".to_string(),
            format!("privatelink-autowire aliases {parent}"),
        ),
    ]
}

/// Whether a link made this zone (by its tags).
fn is_link_zone(tags: &Tags) -> bool {
    tags.contains_key(ALIAS_ZONE_TAG) || tags.contains_key(LINK_TAG)
}

/// The keys that make `link_id` a member.
fn own_keys(tags: &Tags, link_id: &str) -> Vec<String> {
    let mut keys = vec![member_key(link_id)];
    if tags.get(LINK_TAG).map(String::as_str) == Some(link_id) {
        keys.extend([LINK_TAG, DESCRIPTOR_TAG, DIGEST_TAG].map(String::from));
    }
    keys.retain(|k| tags.contains_key(k));
    keys
}

/// The alias a link keeps in a zone, as its member tag says (an earlier release's zone does not
/// say: `fallback`).
pub(super) fn kept_alias(tags: &Tags, link_id: &str, fallback: Option<&str>) -> Option<String> {
    members(tags)
        .remove(link_id)
        .flatten()
        .or_else(|| fallback.map(str::to_string))
}

/// Whether another member keeps a record of the same name in the zone.
pub(super) fn claimed_by_others(tags: &Tags, link_id: &str, alias: &str) -> bool {
    let name = names::base(alias);
    members(tags)
        .iter()
        .any(|(l, a)| l != link_id && a.as_deref().map(names::base) == Some(name.clone()))
}

/// The zone went away under a link (the last other member deleted it): the next pass makes one.
pub(super) fn zone_gone(e: &Error) -> bool {
    e.aws_code() == Some("NoSuchHostedZone")
}

impl<C: ConsumerCloud> Link<C> {
    /// The VPC's private zones this link is a member of.
    pub(super) async fn owned_zones(
        &self,
        vpc_id: &str,
        link_id: &str,
    ) -> Result<Vec<(HostedZone, Tags)>> {
        let mut zones = self.cloud.zones_of_vpc(vpc_id).await?;
        zones.retain(|(_, tags)| members(tags).contains_key(link_id));
        Ok(zones)
    }

    /// The VPC's zone for `parent` that a link made, to join; `None` when there is none. A zone
    /// of that name that no link made is a conflict: Route 53 allows only one.
    pub(super) async fn joinable_zone(
        &self,
        vpc_id: &str,
        parent: &str,
    ) -> Result<Option<(HostedZone, Tags)>> {
        let zones = self.cloud.zones_of_vpc(vpc_id).await?;
        let Some((zone, tags)) = zones.into_iter().find(|(z, _)| z.name == parent) else {
            return Ok(None);
        };
        // Made by a link that has not tagged it yet (or stopped before it could).
        let untagged_link_zone = tags.is_empty()
            && self
                .cloud
                .caller_reference(&zone.id)
                .await?
                .is_some_and(|r| r.starts_with(LINK_PREFIX));
        if is_link_zone(&tags) || untagged_link_zone {
            return Ok(Some((zone, tags)));
        }
        Err(Error::Conflict(format!(
            "VPC {vpc_id} already has a private zone for {parent}; give its ID as AliasHostedZoneId ({})",
            zone.id
        )))
    }

    /// Become a member of `zone` with `alias` (and bring a zone of an earlier release's tags
    /// up to date). No call when already a member with that alias.
    pub(super) async fn join(
        &self,
        zone: &HostedZone,
        tags: &Tags,
        link_id: &str,
        alias: &str,
    ) -> Result<()> {
        let key = member_key(link_id);
        let mut add = Vec::new();
        if tags.get(&key).map(String::as_str) != Some(alias) {
            add.push((key.clone(), alias.to_string()));
        }
        // A zone whose maker stopped before tagging it gets the tags it would have given.
        add.extend(
            zone_own_tags(&zone.name)
                .into_iter()
                .filter(|(k, _)| !tags.contains_key(k)),
        );
        let mut remove = own_keys(tags, link_id);
        remove.retain(|k| k != &key);
        if add.is_empty() && remove.is_empty() {
            return Ok(());
        }
        if !tags.contains_key(&key) && tags.len() + add.len() > MAX_ZONE_TAGS + remove.len() {
            return Err(Error::Conflict(format!(
                "private zone {} for {} is shared by {} links, as many as Route 53's {MAX_ZONE_TAGS} tags a zone allow; give a zone of your own as AliasHostedZoneId",
                zone.id,
                zone.name,
                members(tags).len()
            )));
        }
        self.cloud.change_zone_tags(&zone.id, &add, &remove).await?;
        info!(zone = %zone.id, alias, "joined the alias zone");
        Ok(())
    }

    /// Remove `alias` from `zone`: a record that still points at one of `targets`, or any
    /// record of that name no other member of the zone claims.
    pub(super) async fn drop_alias_in(
        &self,
        zone: &HostedZone,
        tags: &Tags,
        link_id: &str,
        alias: &str,
        targets: &[String],
    ) -> Result<()> {
        if !zone.holds(alias) {
            return Ok(());
        }
        let only_ours = !claimed_by_others(tags, link_id, alias);
        self.remove_alias(&zone.id, alias, targets, only_ours).await
    }

    /// Leave `zone` (its alias already removed). The last member deletes the zone with its tags
    /// on (so a Delete retried after a crash still finds it as its own); Route 53 refuses while
    /// another link's record is in it, and then only the membership goes. With other members,
    /// the membership goes, and the zone too if they all left meanwhile.
    pub(super) async fn leave_zone(
        &self,
        zone: &HostedZone,
        tags: &Tags,
        link_id: &str,
    ) -> Result<()> {
        let alone = members(tags).keys().all(|l| l == link_id);
        if alone && self.delete_zone(&zone.id).await? {
            return Ok(());
        }
        let keys = own_keys(tags, link_id);
        if !keys.is_empty() {
            match self.cloud.change_zone_tags(&zone.id, &[], &keys).await {
                Err(e) if zone_gone(&e) => return Ok(()),
                other => other?,
            }
        }
        if alone {
            return Ok(());
        }
        match self.cloud.zone_tags(&zone.id).await? {
            Some(now) if members(&now).is_empty() => self.delete_zone(&zone.id).await.map(drop),
            Some(now) => {
                let links = members(&now).len();
                info!(zone = %zone.id, links, "alias zone kept: other links use it");
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Make the link's private zone for `parent`, associated with the VPC, the link its first
    /// member. Another link making it at the same moment: join that one.
    pub(super) async fn create_zone(
        &self,
        req: &Request,
        spec: &Spec,
        plan: &Plan,
        parent: &str,
        alias: &str,
    ) -> Result<String> {
        // Route 53 never takes a caller reference twice, even after the zone is deleted: one per
        // request, so a retried pass of the same request finds its zone again.
        let mut h = Sha256::new();
        for part in [&plan.link_id, parent, &req.request_id] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        let reference = format!("{}-{}", plan.link_id, &hex::encode(h.finalize())[..16]);
        let mut tags = zone_own_tags(parent);
        tags.push((member_key(&plan.link_id), alias.to_string()));
        match self
            .cloud
            .create_private_zone(parent, &spec.vpc_id, &reference, &tags)
            .await
        {
            Ok(zone) => {
                info!(zone = %zone.id, name = %parent, "private hosted zone created");
                Ok(zone.id)
            }
            Err(e) if e.aws_code() == Some("ConflictingDomainExists") => {
                let (zone, tags) = self.joinable_zone(&spec.vpc_id, parent).await?.ok_or(e)?;
                self.join(&zone, &tags, &plan.link_id, alias).await?;
                Ok(zone.id)
            }
            Err(e) => Err(e),
        }
    }
}
