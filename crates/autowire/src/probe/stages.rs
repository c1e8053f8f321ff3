//! The stages of one target: DNS, TCP, TLS, HTTP. Each is timed and classified; the first
//! failure ends the target.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{CertificateError, ClientConfig, RootCertStore};
use rustls_pki_types::pem::PemObject;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::timeout_at;
use tokio_rustls::TlsConnector;

use super::{
    ErrorClass, Failure, HttpFacts, Input, Stage, StageTimes, Target, TargetReport, TlsCheck,
    TlsFacts,
};

use crate::names;

/// TLS client configurations, built once per trust anchor set.
pub struct TlsSetup {
    by_bundle: Mutex<HashMap<Option<String>, Arc<ClientConfig>>>,
}

fn system_roots() -> &'static RootCertStore {
    static ROOTS: OnceLock<RootCertStore> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let mut store = RootCertStore::empty();
        let found = rustls_native_certs::load_native_certs();
        store.add_parsable_certificates(found.certs);
        store
    })
}

impl TlsSetup {
    pub fn new() -> Self {
        TlsSetup {
            by_bundle: Mutex::new(HashMap::new()),
        }
    }

    fn config(&self, bundle: Option<&String>) -> Result<Arc<ClientConfig>, String> {
        let key = bundle.cloned();
        if let Some(c) = self.by_bundle.lock().unwrap().get(&key) {
            return Ok(c.clone());
        }
        let roots = match bundle {
            None => system_roots().clone(),
            Some(pem) => {
                let mut store = RootCertStore::empty();
                for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                    let cert = cert.map_err(|e| format!("ca_bundle_pem: {e}"))?;
                    store.add(cert).map_err(|e| format!("ca_bundle_pem: {e}"))?;
                }
                if store.is_empty() {
                    return Err("ca_bundle_pem holds no certificate".into());
                }
                store
            }
        };
        let config =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .with_root_certificates(roots)
                .with_no_client_auth();
        let config = Arc::new(config);
        self.by_bundle.lock().unwrap().insert(key, config.clone());
        Ok(config)
    }
}

impl Default for TlsSetup {
    fn default() -> Self {
        Self::new()
    }
}

/// A target's result as it is built up.
struct Run {
    report: TargetReport,
}

impl Run {
    /// The HTTP stage's outcome; the status is reported even when it is the wrong one.
    fn http(
        &mut self,
        started: Instant,
        r: Result<HttpFacts, (Failure, Option<HttpFacts>)>,
    ) -> Result<(), ()> {
        let r = r.map_err(|(f, facts)| {
            self.report.http = facts;
            f
        });
        let facts = self.time(Stage::Http, started, r)?;
        self.report.http = Some(facts);
        Ok(())
    }

    fn time<T>(&mut self, stage: Stage, started: Instant, r: Result<T, Failure>) -> Result<T, ()> {
        self.report.stage = stage;
        self.report
            .latency_ms
            .0
            .push((stage, started.elapsed().as_secs_f64() * 1000.0));
        r.map_err(|f| self.report.error = Some(f))
    }
}

fn fail(class: ErrorClass, message: impl Into<String>) -> Failure {
    Failure {
        class,
        message: message.into(),
    }
}

/// The time a target may use: the run's deadline (and whether Lambda's deadline set it), and the
/// target's own.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    pub deadline: Instant,
    /// The run's deadline is Lambda's (minus a margin to answer), not the input's timeout_ms.
    pub lambda_capped: bool,
}

impl Budget {
    /// The class of a stage that ran out of time: its own, or `deadline` when Lambda's time ran
    /// out rather than the time the caller gave.
    fn timed_out(&self, own: ErrorClass, target_deadline: Instant, what: String) -> Failure {
        if self.lambda_capped && target_deadline >= self.deadline {
            fail(
                ErrorClass::Deadline,
                format!("{what}: no answer before the Lambda deadline; raise the probe's Timeout or lower timeout_ms"),
            )
        } else {
            fail(own, format!("{what} timed out"))
        }
    }
}

pub async fn probe(t: &Target, input: &Input, tls: &TlsSetup, budget: &Budget) -> TargetReport {
    let deadline = match input.target_timeout_ms {
        Some(ms) => budget
            .deadline
            .min(Instant::now() + std::time::Duration::from_millis(ms)),
        None => budget.deadline,
    };
    let mut run = Run {
        report: TargetReport {
            host: t.host.clone(),
            port: t.port,
            name: t.name.clone(),
            service_key: t.service_key.clone(),
            az_id: t.az_id.clone(),
            ok: false,
            stage: Stage::Dns,
            addresses: Vec::new(),
            address: None,
            latency_ms: StageTimes::default(),
            error: None,
            tls: None,
            http: None,
        },
    };
    if stages(&mut run, t, input, tls, budget, deadline)
        .await
        .is_ok()
    {
        run.report.ok = true;
    }
    run.report
}

async fn stages(
    run: &mut Run,
    t: &Target,
    input: &Input,
    tls: &TlsSetup,
    budget: &Budget,
    deadline: Instant,
) -> Result<(), ()> {
    let started = Instant::now();
    let addrs = resolve(t, input, budget, deadline).await;
    let addrs = run.time(Stage::Dns, started, addrs)?;
    run.report.addresses = addrs.iter().map(|a| a.to_string()).collect();
    let started = Instant::now();
    let tcp = connect(t, &addrs, budget, deadline).await;
    let (tcp, answered) = run.time(Stage::Tcp, started, tcp)?;
    run.report.address = Some(answered.to_string());
    match &t.tls {
        None => {
            if let Some(h) = &t.http {
                let started = Instant::now();
                let status = http(tcp, t, h, budget, deadline).await;
                run.http(started, status)?;
            }
        }
        Some(check) => {
            let started = Instant::now();
            let stream = match handshake(tcp, t, check, tls, budget, deadline).await {
                Ok((stream, facts)) => {
                    run.report.tls = Some(facts);
                    Ok(stream)
                }
                Err((failure, facts)) => {
                    // What the certificate says is worth reporting even when it is the problem.
                    run.report.tls = facts;
                    Err(failure)
                }
            };
            let stream = run.time(Stage::Tls, started, stream)?;
            if let Some(h) = &t.http {
                let started = Instant::now();
                let status = http(stream, t, h, budget, deadline).await;
                run.http(started, status)?;
            }
        }
    }
    Ok(())
}

async fn resolve(
    t: &Target,
    input: &Input,
    budget: &Budget,
    deadline: Instant,
) -> Result<Vec<IpAddr>, Failure> {
    if let Ok(ip) = t.host.parse::<IpAddr>() {
        return Ok(vec![ip]);
    }
    let name = t.host.trim_end_matches('.').to_ascii_lowercase();
    if let Some(ips) = input.static_addresses(&name) {
        return Ok(ips);
    }
    if !input.system_dns {
        return Err(fail(
            ErrorClass::DnsNxdomain,
            format!("{} does not resolve (not in hosts, system DNS off)", t.host),
        ));
    }
    let lookup = timeout_at(
        deadline.into(),
        tokio::net::lookup_host((name.clone(), t.port)),
    )
    .await;
    match lookup {
        Err(_) => Err(budget.timed_out(
            ErrorClass::DnsError,
            deadline,
            format!("DNS lookup of {}", t.host),
        )),
        Ok(Err(e)) => {
            let text = e.to_string();
            let nx = [
                "not known",
                "No address associated",
                "nodename nor servname",
            ]
            .iter()
            .any(|m| text.contains(m));
            Err(fail(
                if nx {
                    ErrorClass::DnsNxdomain
                } else {
                    ErrorClass::DnsError
                },
                format!("{} does not resolve: {text}", t.host),
            ))
        }
        Ok(Ok(found)) => {
            let mut ips: Vec<IpAddr> = Vec::new();
            for ip in found.map(|a| a.ip()) {
                if !ips.contains(&ip) {
                    ips.push(ip);
                }
            }
            if ips.is_empty() {
                Err(fail(
                    ErrorClass::DnsNxdomain,
                    format!("{} has no addresses", t.host),
                ))
            } else {
                Ok(ips)
            }
        }
    }
}

/// Connect to each address in turn until one answers, each attempt given an equal share of the
/// time left. All failing: the last attempt's class, every attempt in the message.
async fn connect(
    t: &Target,
    addrs: &[IpAddr],
    budget: &Budget,
    deadline: Instant,
) -> Result<(TcpStream, IpAddr), Failure> {
    let mut failures: Vec<Failure> = Vec::new();
    for (i, ip) in addrs.iter().enumerate() {
        let left = deadline.saturating_duration_since(Instant::now());
        let own = Instant::now() + left / (addrs.len() - i) as u32;
        match connect_one(t, SocketAddr::new(*ip, t.port), budget, own, deadline).await {
            Ok(s) => return Ok((s, *ip)),
            Err(f) => failures.push(f),
        }
    }
    let last = failures
        .pop()
        .unwrap_or_else(|| fail(ErrorClass::TcpError, "no address"));
    if failures.is_empty() {
        return Err(last);
    }
    let earlier: Vec<String> = failures.into_iter().map(|f| f.message).collect();
    Err(fail(
        last.class,
        format!("{}; before that: {}", last.message, earlier.join("; ")),
    ))
}

/// One TCP connect, by `own` (a share of the target's `deadline`).
async fn connect_one(
    t: &Target,
    addr: SocketAddr,
    budget: &Budget,
    own: Instant,
    deadline: Instant,
) -> Result<TcpStream, Failure> {
    match timeout_at(own.into(), TcpStream::connect(addr)).await {
        Err(_) if own < deadline => Err(fail(
            ErrorClass::TcpTimeout,
            format!("TCP {} to {addr} timed out", t.port),
        )),
        Err(_) => Err(budget.timed_out(
            ErrorClass::TcpTimeout,
            deadline,
            format!("TCP {} to {addr}", t.port),
        )),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => Err(fail(
            ErrorClass::TcpRefused,
            format!("TCP {} to {addr} refused", t.port),
        )),
        Ok(Err(e)) => Err(fail(
            ErrorClass::TcpError,
            format!("TCP {} to {addr}: {e}", t.port),
        )),
        Ok(Ok(s)) => {
            let _ = s.set_nodelay(true);
            Ok(s)
        }
    }
}

fn classify_tls(e: &std::io::Error, server_name: &str) -> Failure {
    let inner = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>());
    match inner {
        Some(rustls::Error::InvalidCertificate(c)) => match c {
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                fail(ErrorClass::TlsNameMismatch, format!("TLS certificate does not cover {server_name}"))
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                fail(ErrorClass::TlsExpired, format!("TLS certificate for {server_name} has expired"))
            }
            CertificateError::UnknownIssuer => fail(
                ErrorClass::TlsUntrusted,
                format!("TLS certificate for {server_name} is not from a trusted CA (give ca_bundle_pem for a private CA)"),
            ),
            other => fail(ErrorClass::TlsHandshake, format!("TLS certificate for {server_name}: {other:?}")),
        },
        Some(other) => fail(ErrorClass::TlsHandshake, format!("TLS handshake with {server_name}: {other}")),
        None => fail(ErrorClass::TlsHandshake, format!("TLS handshake with {server_name}: {e}")),
    }
}

async fn handshake(
    tcp: TcpStream,
    t: &Target,
    check: &TlsCheck,
    setup: &TlsSetup,
    budget: &Budget,
    deadline: Instant,
) -> Result<(tokio_rustls::client::TlsStream<TcpStream>, TlsFacts), (Failure, Option<TlsFacts>)> {
    let server_name = check.server_name.clone().unwrap_or_else(|| t.host.clone());
    let (stream, facts) = connect_tls(tcp, &server_name, check, setup, budget, deadline)
        .await
        .map_err(|f| (f, None))?;
    for want in &check.expect_names {
        if names::covering(&facts.names, want).is_none() {
            let failure = fail(
                ErrorClass::TlsNameMismatch,
                format!("TLS certificate for {server_name} does not cover alias {want}"),
            );
            return Err((failure, Some(facts)));
        }
    }
    Ok((stream, facts))
}

async fn connect_tls(
    tcp: TcpStream,
    server_name: &str,
    check: &TlsCheck,
    setup: &TlsSetup,
    budget: &Budget,
    deadline: Instant,
) -> Result<(tokio_rustls::client::TlsStream<TcpStream>, TlsFacts), Failure> {
    let config = setup
        .config(check.ca_bundle_pem.as_ref())
        .map_err(|e| fail(ErrorClass::TlsHandshake, e))?;
    let sni = ServerName::try_from(server_name.to_string()).map_err(|e| {
        fail(
            ErrorClass::TlsHandshake,
            format!("'{server_name}' is not a server name: {e}"),
        )
    })?;
    let stream = match timeout_at(
        deadline.into(),
        TlsConnector::from(config).connect(sni, tcp),
    )
    .await
    {
        Err(_) => {
            return Err(budget.timed_out(
                ErrorClass::TlsTimeout,
                deadline,
                format!("TLS handshake with {server_name}"),
            ))
        }
        Ok(Err(e)) => return Err(classify_tls(&e, server_name)),
        Ok(Ok(s)) => s,
    };
    let leaf = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .ok_or_else(|| {
            fail(
                ErrorClass::TlsHandshake,
                format!("{server_name} sent no certificate"),
            )
        })?;
    let facts = certificate_facts(leaf.as_ref()).map_err(|e| {
        fail(
            ErrorClass::TlsHandshake,
            format!("certificate of {server_name}: {e}"),
        )
    })?;
    Ok((stream, facts))
}

/// SANs and expiry of a DER certificate.
pub fn certificate_facts(der: &[u8]) -> Result<TlsFacts, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| e.to_string())?;
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            if let x509_parser::extensions::GeneralName::DNSName(d) = n {
                names.push(d.to_string());
            }
        }
    }
    let not_after = cert.validity().not_after.timestamp();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    Ok(TlsFacts {
        names,
        days_to_expiry: (not_after - now).div_euclid(86_400),
        not_after: rfc3339(not_after),
    })
}

/// Seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

async fn http<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    t: &Target,
    check: &super::HttpCheck,
    budget: &Budget,
    deadline: Instant,
) -> Result<HttpFacts, (Failure, Option<HttpFacts>)> {
    let path = &check.path;
    let keep_body = check.expect_body_contains.is_some();
    let exchange = super::http::get(stream, &t.host, path, keep_body);
    let answer = match timeout_at(deadline.into(), exchange).await {
        Err(_) => {
            let f = budget.timed_out(ErrorClass::HttpTimeout, deadline, format!("GET {path}"));
            return Err((f, None));
        }
        Ok(Err(e)) => {
            return Err((
                fail(ErrorClass::HttpError, format!("GET {path}: {e}")),
                None,
            ))
        }
        Ok(Ok(a)) => a,
    };
    let facts = HttpFacts {
        status: answer.status,
        body_bytes: answer.body_bytes,
        body_capped: answer.capped,
    };
    if answer.status != check.expect_status {
        let f = fail(
            ErrorClass::HttpStatus,
            format!(
                "GET {path} answered {}, expected {}",
                answer.status, check.expect_status
            ),
        );
        return Err((f, Some(facts)));
    }
    if let Some(want) = &check.expect_body_contains {
        if !contains(&answer.body, want.as_bytes()) {
            let f = fail(
                ErrorClass::HttpBody,
                format!(
                    "GET {path}: the body ({} bytes) does not contain '{want}'",
                    answer.body.len()
                ),
            );
            return Err((f, Some(facts)));
        }
    }
    Ok(facts)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}
