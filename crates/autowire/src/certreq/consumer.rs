//! The consumer's side: what the provider answered about a link's certificate, kept on the
//! link's endpoint as tags the link's own apply reads; the validation record written in the
//! consumer's public zone, the one proof that it controls the name.

use tracing::{info, warn};

use super::messages::{Message, Subject};
use crate::arn::Arn;
use crate::aws::{EndpointChange, RecordChange, RecordSet, RecordType, LINK_TAG};
use crate::error::Result;
use crate::link::{AliasCertificate, ConsumerCloud, LinkRecord, Spec};

/// Where the link's certificate stands: `requested`, `validating`, `ready`, `refused`.
pub const STATE_TAG: &str = "privatelink-autowire:certificate";
/// Why the provider refused it.
pub const REASON_TAG: &str = "privatelink-autowire:certificate-refused";
/// The validation record the consumer wrote (its name), so the link's Delete removes it.
pub const RECORD_TAG: &str = "privatelink-autowire:certificate-record";

/// A link's certificate, as its endpoint's tags say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CertState {
    NotAsked,
    Requested,
    Validating,
    Ready,
    Refused(String),
}

impl CertState {
    /// The state an endpoint's tags say.
    pub fn of(tags: &std::collections::BTreeMap<String, String>) -> CertState {
        match tags.get(STATE_TAG).map(String::as_str) {
            Some("requested") => CertState::Requested,
            Some("validating") => CertState::Validating,
            Some("ready") => CertState::Ready,
            Some("refused") => {
                CertState::Refused(tags.get(REASON_TAG).cloned().unwrap_or_default())
            }
            _ => CertState::NotAsked,
        }
    }

    /// The tags that say this state on an endpoint (the reverse of [`CertState::of`]).
    pub fn tags(&self) -> Vec<(String, String)> {
        let (value, reason) = match self {
            CertState::NotAsked => return Vec::new(),
            CertState::Requested => ("requested", None),
            CertState::Validating => ("validating", None),
            CertState::Ready => ("ready", None),
            CertState::Refused(why) => ("refused", Some(why.chars().take(250).collect())),
        };
        let mut tags = vec![(STATE_TAG.to_string(), value.to_string())];
        tags.extend(reason.map(|r: String| (REASON_TAG.to_string(), r)));
        tags
    }
}

/// Take a provider's answer from account `from`. Anything not about a link of this account that
/// asked, or not from that link's provider, is logged and left alone.
pub async fn on_message<C: ConsumerCloud>(cloud: &C, from: &str, message: &Message) -> Result<()> {
    let subject = message.subject();
    let Some(zone) = validation_zone(cloud, from, subject).await? else {
        return Ok(());
    };
    let tags = match message {
        Message::Validation {
            record_name,
            record_value,
            ..
        } => {
            if !is_validation_record(record_name, record_value, &subject.alias_name) {
                warn!(record = %record_name, alias = %subject.alias_name, "not a validation record for the alias; not written");
                return Ok(());
            }
            let record = RecordSet::new(record_name, RecordType::Cname, record_value);
            cloud
                .change_records(&zone, &[RecordChange::Upsert(record)])
                .await?;
            info!(link = %subject.link_id, record = %record_name, zone = %zone, "validation record written");
            let mut tags = CertState::Validating.tags();
            tags.push((
                RECORD_TAG.to_string(),
                record_name.trim_end_matches('.').to_string(),
            ));
            tags
        }
        Message::Ready { .. } => CertState::Ready.tags(),
        Message::Refused { reason, .. } => CertState::Refused(reason.clone()).tags(),
        _ => return Ok(()),
    };
    set_tags(cloud, &subject.link_id, tags).await
}

/// The link `subject` names, when it asked for a certificate for that alias and `from` is its
/// provider: its validation zone.
async fn validation_zone<C: ConsumerCloud>(
    cloud: &C,
    from: &str,
    subject: &Subject,
) -> Result<Option<String>> {
    let name = LinkRecord::parameter_name(&subject.link_id);
    let Some(stored) = cloud.read(&name).await? else {
        info!(link = %subject.link_id, "no such link here; ignored");
        return Ok(None);
    };
    let record = LinkRecord::parse(&name, &stored.value)?;
    let spec = Spec::parse(&record.properties)?;
    let provider = Arn::parse(&spec.service_parameter).map(|a| a.account).ok();
    let asked = spec.alias_certificate == AliasCertificate::Request
        && spec.alias_name.as_deref() == Some(subject.alias_name.as_str());
    match (&spec.alias_validation_zone_id, provider) {
        (Some(zone), Some(p)) if asked && p == from => Ok(Some(zone.clone())),
        _ => {
            warn!(link = %subject.link_id, from, alias = %subject.alias_name, "not this link's provider, or not what it asked for; ignored");
            Ok(None)
        }
    }
}

/// `_<token>.<alias>.` CNAME `_<token>.<…>.acm-validations.aws.`: ACM's shape, for the alias.
pub fn is_validation_record(name: &str, value: &str, alias: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let value = value.trim_end_matches('.').to_ascii_lowercase();
    let token = name.strip_suffix(&format!(".{alias}")).unwrap_or_default();
    token.starts_with('_') && !token.contains('.') && value.ends_with(".acm-validations.aws")
}

async fn set_tags<C: ConsumerCloud>(
    cloud: &C,
    link_id: &str,
    tags: Vec<(String, String)>,
) -> Result<()> {
    for e in cloud.endpoints_tagged(LINK_TAG, link_id).await? {
        let change = EndpointChange {
            tags: tags.clone(),
            ..EndpointChange::default()
        };
        cloud.modify_endpoint(&e.id, &change).await?;
    }
    Ok(())
}
