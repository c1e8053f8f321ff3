//! ACM adapter: DNS-validated certificates.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_acm::types::{CertificateStatus, Tag, ValidationMethod};

use super::{code_of, sdk_error, Sdk};
use crate::aws::{Certificate, CertificateSummary, Certificates, Owner, RecordSet, RecordType};
use crate::error::{Error, Result};

#[async_trait]
impl Certificates for Sdk {
    async fn request_certificate(
        &self,
        domain_name: &str,
        alternative_names: &[String],
        token: &str,
        owner: &Owner,
    ) -> Result<String> {
        const OP: &str = "acm:RequestCertificate";
        let tags = owner
            .tags()
            .into_iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::aws(OP, "InvalidTag", e.to_string()))?;
        let out = self
            .acm
            .request_certificate()
            .domain_name(domain_name)
            .set_subject_alternative_names(
                (!alternative_names.is_empty()).then(|| alternative_names.to_vec()),
            )
            .validation_method(ValidationMethod::Dns)
            .idempotency_token(token)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| sdk_error(OP, e))?;
        out.certificate_arn()
            .map(str::to_string)
            .ok_or_else(|| Error::aws(OP, "Unknown", "no certificate ARN in the answer"))
    }

    async fn certificate(&self, arn: &str) -> Result<Option<Certificate>> {
        let out = match self
            .acm
            .describe_certificate()
            .certificate_arn(arn)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if code_of(&e) == Some("ResourceNotFoundException") => return Ok(None),
            Err(e) => return Err(sdk_error("acm:DescribeCertificate", e)),
        };
        let Some(c) = out.certificate() else {
            return Ok(None);
        };
        let options = c.domain_validation_options();
        let mut records: Vec<RecordSet> = Vec::new();
        for r in options.iter().filter_map(|o| o.resource_record()) {
            let r = RecordSet::new(r.name(), RecordType::Cname, r.value());
            if !records.contains(&r) {
                records.push(r);
            }
        }
        let domain_name = c.domain_name().unwrap_or_default().to_string();
        let mut names = c.subject_alternative_names().to_vec();
        if !names.contains(&domain_name) {
            names.insert(0, domain_name.clone());
        }
        Ok(Some(Certificate {
            arn: arn.to_string(),
            domain_name,
            names,
            status: c
                .status()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            failure_reason: c.failure_reason().map(|f| f.as_str().to_string()),
            validation_records: records,
            validation_complete: !options.is_empty()
                && options.iter().all(|o| o.resource_record().is_some()),
            in_use_by: c.in_use_by().to_vec(),
        }))
    }

    async fn live_certificates(&self) -> Result<Vec<CertificateSummary>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .acm
                .list_certificates()
                .certificate_statuses(CertificateStatus::PendingValidation)
                .certificate_statuses(CertificateStatus::Issued)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| sdk_error("acm:ListCertificates", e))?;
            for s in page.certificate_summary_list() {
                let Some(arn) = s.certificate_arn() else {
                    continue;
                };
                let mut names: Vec<String> =
                    s.domain_name().map(str::to_string).into_iter().collect();
                for n in s.subject_alternative_name_summaries() {
                    if !names.contains(n) {
                        names.push(n.clone());
                    }
                }
                out.push(CertificateSummary {
                    arn: arn.to_string(),
                    names,
                });
            }
            match page.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => return Ok(out),
            }
        }
    }

    async fn certificate_owner(&self, arn: &str) -> Result<Option<Owner>> {
        let out = match self
            .acm
            .list_tags_for_certificate()
            .certificate_arn(arn)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if code_of(&e) == Some("ResourceNotFoundException") => return Ok(None),
            Err(e) => return Err(sdk_error("acm:ListTagsForCertificate", e)),
        };
        let tags: BTreeMap<String, String> = out
            .tags()
            .iter()
            .map(|t| {
                (
                    t.key().to_string(),
                    t.value().unwrap_or_default().to_string(),
                )
            })
            .collect();
        Ok(Owner::from_tags(&tags))
    }

    async fn delete_certificate(&self, arn: &str) -> Result<()> {
        match self
            .acm
            .delete_certificate()
            .certificate_arn(arn)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if code_of(&e) == Some("ResourceNotFoundException") => Ok(()),
            Err(e) => Err(sdk_error("acm:DeleteCertificate", e)),
        }
    }
}
