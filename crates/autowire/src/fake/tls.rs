//! ACM certificates and load balancer listener certificates as the fake models them: a
//! certificate is issued once its validation CNAMEs are in public DNS (unless CAA forbids it),
//! only an issued certificate can go on a listener, a TLS listener's default certificate can't
//! be removed, and a certificate in use can't be deleted.

use std::collections::BTreeMap;

use async_trait::async_trait;
use sha2::{Digest, Sha256};

use super::{dns, FakeCloud, State, ACCOUNT, REGION};
use crate::aws::{
    Certificate, CertificateSummary, Certificates, Listener, Listeners, Owner, RecordSet,
    RecordType,
};
use crate::descriptor::Port;
use crate::error::{Error, Result};

#[derive(Clone, Debug)]
pub struct FakeCertificate {
    pub domain_name: String,
    pub names: Vec<String>,
    pub status: String,
    pub failure_reason: Option<String>,
    pub tags: BTreeMap<String, String>,
    pub token: String,
    /// Reads left before ACM shows the validation records.
    pub records_in: u32,
}

#[derive(Clone, Debug)]
pub struct FakeListener {
    pub load_balancer_arn: String,
    pub protocol: String,
    pub port: u16,
    pub default_certificate: Option<String>,
    pub extra_certificates: Vec<String>,
}

/// ACM's validation record for a name: one per base domain and account.
pub fn validation_record(name: &str) -> RecordSet {
    let base = crate::names::base(name);
    let h = hex::encode(Sha256::digest(format!("{ACCOUNT}/{base}").as_bytes()));
    RecordSet::new(
        &format!("_{}.{base}", &h[..32]),
        RecordType::Cname,
        &format!("_{}.{}.acm-validations.aws.", &h[32..64], &h[..10]),
    )
}

fn records_of(c: &FakeCertificate) -> Vec<RecordSet> {
    let mut out: Vec<RecordSet> = Vec::new();
    for n in &c.names {
        let r = validation_record(n);
        if !out.contains(&r) {
            out.push(r);
        }
    }
    out
}

fn in_use_by(s: &State, arn: &str) -> Vec<String> {
    let mut lbs: Vec<String> = s
        .tls_listeners
        .values()
        .filter(|l| {
            l.default_certificate.as_deref() == Some(arn)
                || l.extra_certificates.iter().any(|c| c == arn)
        })
        .map(|l| l.load_balancer_arn.clone())
        .collect();
    lbs.sort();
    lbs.dedup();
    lbs
}

/// Settle a pending certificate against what public DNS shows now.
fn refresh(s: &mut State, arn: &str) {
    let Some(c) = s.certificates.get(arn).cloned() else {
        return;
    };
    if c.status != "PENDING_VALIDATION" || c.records_in > 0 {
        return;
    }
    if !records_of(&c).iter().all(|r| dns::cname_published(s, r)) {
        return;
    }
    let forbidden = c
        .names
        .iter()
        .any(|n| s.caa_forbidden.contains(&crate::names::base(n)));
    let c = s.certificates.get_mut(arn).expect("present");
    if forbidden {
        c.status = "FAILED".into();
        c.failure_reason = Some("CAA_ERROR".into());
    } else {
        c.status = "ISSUED".into();
    }
}

impl FakeCloud {
    /// A load balancer listener; TLS ones start with `default_certificate`.
    pub fn add_listener(
        &self,
        arn: &str,
        protocol: &str,
        port: u16,
        default_certificate: Option<&str>,
    ) {
        let lb = arn
            .replacen(":listener/", ":loadbalancer/", 1)
            .rsplit_once('/')
            .map(|(lb, _)| lb.to_string())
            .unwrap_or_default();
        self.state.lock().unwrap().tls_listeners.insert(
            arn.to_string(),
            FakeListener {
                load_balancer_arn: lb,
                protocol: protocol.to_string(),
                port,
                default_certificate: default_certificate.map(str::to_string),
                extra_certificates: Vec::new(),
            },
        );
    }

    /// An imported (so already issued) certificate, as a provider's existing listener would use.
    pub fn import_certificate(&self, domain: &str) -> String {
        let arn = format!(
            "arn:aws:acm:{REGION}:{ACCOUNT}:certificate/imported-{}",
            &hex::encode(Sha256::digest(domain.as_bytes()))[..12]
        );
        self.state.lock().unwrap().certificates.insert(
            arn.clone(),
            FakeCertificate {
                domain_name: domain.into(),
                names: vec![domain.into()],
                status: "ISSUED".into(),
                failure_reason: None,
                tags: BTreeMap::new(),
                token: String::new(),
                records_in: 0,
            },
        );
        arn
    }

    pub fn listener_state(&self, arn: &str) -> Option<FakeListener> {
        self.state.lock().unwrap().tls_listeners.get(arn).cloned()
    }

    pub fn certificate_status(&self, arn: &str) -> Option<String> {
        let mut s = self.state.lock().unwrap();
        refresh(&mut s, arn);
        s.certificates.get(arn).map(|c| c.status.clone())
    }
}

fn listener_not_found(op: &'static str, arn: &str) -> Error {
    Error::aws(
        op,
        "ListenerNotFound",
        format!("Listener '{arn}' not found"),
    )
}

/// ELB accepts only certificates that exist and are issued.
fn usable(s: &mut State, op: &'static str, cert: &str) -> Result<()> {
    refresh(s, cert);
    match s.certificates.get(cert) {
        Some(c) if c.status == "ISSUED" => Ok(()),
        _ => Err(Error::aws(
            op,
            "CertificateNotFound",
            format!("Certificate '{cert}' not found"),
        )),
    }
}

impl FakeCloud {
    /// Record a listener-certificate call, check the certificate can go on a listener, then
    /// change the listener.
    async fn with_usable_certificate(
        &self,
        op: &'static str,
        listener_arn: &str,
        cert: &str,
        change: impl FnOnce(&'static str, &mut FakeListener) -> Result<()>,
    ) -> Result<()> {
        self.call(op, true).await?;
        let mut s = self.state.lock().unwrap();
        usable(&mut s, op, cert)?;
        let l = s
            .tls_listeners
            .get_mut(listener_arn)
            .ok_or_else(|| listener_not_found(op, listener_arn))?;
        change(op, l)
    }
}

#[async_trait]
impl Listeners for FakeCloud {
    async fn listener_ports(&self, arns: &[String]) -> Result<Vec<Port>> {
        self.call("elasticloadbalancing:DescribeListeners", false)
            .await?;
        let s = self.state.lock().unwrap();
        let mut out = Vec::new();
        for arn in arns {
            let ports = s.listeners.get(arn).ok_or_else(|| {
                Error::aws(
                    "elasticloadbalancing:DescribeListeners",
                    "LoadBalancerNotFound",
                    format!("Load balancer '{arn}' not found"),
                )
            })?;
            out.extend(ports.iter().copied());
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    async fn listener(&self, arn: &str) -> Result<Option<Listener>> {
        self.call("elasticloadbalancing:DescribeListeners", false)
            .await?;
        self.call("elasticloadbalancing:DescribeListenerCertificates", false)
            .await?;
        let s = self.state.lock().unwrap();
        Ok(s.tls_listeners.get(arn).map(|l| Listener {
            arn: arn.to_string(),
            load_balancer_arn: l.load_balancer_arn.clone(),
            protocol: l.protocol.clone(),
            default_certificate: l.default_certificate.clone(),
            extra_certificates: l.extra_certificates.clone(),
        }))
    }

    async fn listeners_of(&self, load_balancer_arn: &str) -> Result<Vec<String>> {
        self.call("elasticloadbalancing:DescribeListeners", false)
            .await?;
        let s = self.state.lock().unwrap();
        Ok(s.tls_listeners
            .iter()
            .filter(|(_, l)| l.load_balancer_arn == load_balancer_arn)
            .map(|(a, _)| a.clone())
            .collect())
    }

    async fn set_default_certificate(&self, listener_arn: &str, cert: &str) -> Result<()> {
        self.with_usable_certificate(
            "elasticloadbalancing:ModifyListener",
            listener_arn,
            cert,
            |_, l| {
                l.default_certificate = Some(cert.to_string());
                Ok(())
            },
        )
        .await
    }

    async fn add_certificate(&self, listener_arn: &str, cert: &str) -> Result<()> {
        self.with_usable_certificate(
            "elasticloadbalancing:AddListenerCertificates",
            listener_arn,
            cert,
            |op, l| {
                if !matches!(l.protocol.as_str(), "TLS" | "HTTPS") {
                    return Err(Error::aws(
                        op,
                        "InvalidConfigurationRequest",
                        format!("Listener '{listener_arn}' does not support certificates"),
                    ));
                }
                if !l.extra_certificates.iter().any(|c| c == cert) {
                    l.extra_certificates.push(cert.to_string());
                }
                Ok(())
            },
        )
        .await
    }

    async fn remove_certificate(&self, listener_arn: &str, cert: &str) -> Result<()> {
        const OP: &str = "elasticloadbalancing:RemoveListenerCertificates";
        self.call(OP, true).await?;
        let mut s = self.state.lock().unwrap();
        let l = s
            .tls_listeners
            .get_mut(listener_arn)
            .ok_or_else(|| listener_not_found(OP, listener_arn))?;
        if l.default_certificate.as_deref() == Some(cert) {
            return Err(Error::aws(
                OP,
                "OperationNotPermitted",
                "The default certificate cannot be removed from the listener",
            ));
        }
        l.extra_certificates.retain(|c| c != cert);
        Ok(())
    }
}

#[async_trait]
impl Certificates for FakeCloud {
    async fn request_certificate(
        &self,
        domain_name: &str,
        alternative_names: &[String],
        token: &str,
        owner: &Owner,
    ) -> Result<String> {
        self.call("acm:RequestCertificate", true).await?;
        let mut s = self.state.lock().unwrap();
        if let Some((arn, _)) = s.certificates.iter().find(|(_, c)| c.token == token) {
            return Ok(arn.clone());
        }
        let n = s.certificates.len();
        let arn = format!(
            "arn:aws:acm:{REGION}:{ACCOUNT}:certificate/fake-{n:04}-{}",
            &token[..8]
        );
        let mut names = vec![domain_name.to_string()];
        names.extend(alternative_names.iter().cloned());
        let records_in = s.records_after_polls;
        s.certificates.insert(
            arn.clone(),
            FakeCertificate {
                domain_name: domain_name.into(),
                names,
                status: "PENDING_VALIDATION".into(),
                failure_reason: None,
                tags: owner.tags().into_iter().collect(),
                token: token.into(),
                records_in,
            },
        );
        Ok(arn)
    }

    async fn certificate(&self, arn: &str) -> Result<Option<Certificate>> {
        self.call("acm:DescribeCertificate", false).await?;
        let mut s = self.state.lock().unwrap();
        refresh(&mut s, arn);
        let used = in_use_by(&s, arn);
        let Some(c) = s.certificates.get_mut(arn) else {
            return Ok(None);
        };
        let shown = c.records_in == 0;
        c.records_in = c.records_in.saturating_sub(1);
        Ok(Some(Certificate {
            arn: arn.to_string(),
            domain_name: c.domain_name.clone(),
            names: c.names.clone(),
            status: c.status.clone(),
            failure_reason: c.failure_reason.clone(),
            validation_records: if shown { records_of(c) } else { Vec::new() },
            validation_complete: shown,
            in_use_by: used,
        }))
    }

    async fn live_certificates(&self) -> Result<Vec<CertificateSummary>> {
        self.call("acm:ListCertificates", false).await?;
        let mut s = self.state.lock().unwrap();
        let arns: Vec<String> = s.certificates.keys().cloned().collect();
        for a in &arns {
            refresh(&mut s, a);
        }
        Ok(s.certificates
            .iter()
            .filter(|(_, c)| matches!(c.status.as_str(), "ISSUED" | "PENDING_VALIDATION"))
            .map(|(a, c)| CertificateSummary {
                arn: a.clone(),
                names: c.names.clone(),
            })
            .collect())
    }

    async fn certificate_owner(&self, arn: &str) -> Result<Option<Owner>> {
        self.call("acm:ListTagsForCertificate", false).await?;
        let s = self.state.lock().unwrap();
        Ok(s.certificates
            .get(arn)
            .and_then(|c| Owner::from_tags(&c.tags)))
    }

    async fn delete_certificate(&self, arn: &str) -> Result<()> {
        const OP: &str = "acm:DeleteCertificate";
        self.call(OP, true).await?;
        let mut s = self.state.lock().unwrap();
        if !in_use_by(&s, arn).is_empty() {
            return Err(Error::aws(
                OP,
                "ResourceInUseException",
                format!("Certificate {arn} in account {ACCOUNT} is in use."),
            ));
        }
        s.certificates.remove(arn);
        Ok(())
    }
}
