"""The crash matrix (crash_matrix.py) of `Custom::ServiceCertificate`, through the real provider
binary: a DNS-validated certificate, issued through continuations, served on a TLS listener."""

from __future__ import annotations

from binary_support import bare_zone_id, norm, record_sets
import crash_matrix
from crash_matrix import RUN, SERVICE_TIMEOUT, Scenario, World, check, tags_of
from testbed_fixtures import _certificate, build_provider_network, build_public_zone

TLS_DOMAIN = "service.example.com"  # build_provider_network's imported listener certificate
ALL_STATUSES = ["PENDING_VALIDATION", "ISSUED", "INACTIVE", "EXPIRED", "VALIDATION_TIMED_OUT",
                "REVOKED", "FAILED"]


def certificates(session, domain: str) -> list[dict]:
    acm = session.client("acm")
    out = []
    for s in acm.list_certificates(CertificateStatuses=ALL_STATUSES)["CertificateSummaryList"]:
        if not norm(s.get("DomainName", "")).endswith(domain):
            continue
        c = acm.describe_certificate(CertificateArn=s["CertificateArn"])["Certificate"]
        tags = acm.list_tags_for_certificate(CertificateArn=c["CertificateArn"])["Tags"]
        out.append({"arn": c["CertificateArn"], "status": c["Status"],
                    "names": c["SubjectAlternativeNames"], "tags": tags_of(tags)})
    return out


def certificate_world(provider, label: str) -> World:
    domain = f"{label}-{RUN}.example.com"
    zone = bare_zone_id(build_public_zone(provider, domain))
    network = build_provider_network(provider, ["use1-az1"], listeners=[("TLS", 443)])
    [listener] = network.listener_arns
    name = f"orders.{domain}"
    props = {"DomainName": name, "SubjectAlternativeNames": [f"*.{name}"], "HostedZoneId": zone,
             "ListenerArns": [listener], "ServiceTimeout": SERVICE_TIMEOUT}
    elbv2 = provider.client("elbv2")

    def inventory() -> dict:
        served = elbv2.describe_listener_certificates(ListenerArn=listener)["Certificates"]
        return {"certificates": certificates(provider, domain),
                "cnames": record_sets(provider, zone, "CNAME"),
                "listener": [(c["CertificateArn"], c["IsDefault"]) for c in served]}

    imported = _certificate(provider, TLS_DOMAIN)
    return World(props, inventory, {domain: "<domain>", zone: "<zone>", imported: "<imported>"})


def test_certificate_crash_matrix(provider, emulator_url, capture, record_property):
    check(Scenario("certificate", "provider", provider, "Custom::ServiceCertificate",
                   "Certificate", lambda label: certificate_world(provider, label),
                   timeout_s=crash_matrix.TEN_SECOND_POLL_TIMEOUT_S),
          emulator_url, capture, record_property)


