"""`Custom::ServiceCertificate` through the real provider binary: a DNS-validated ACM
certificate, waited for through continuations (the function's Timeout is shorter than the
poll), served on the NLB's TLS listener, replaced on a name change, cleaned up on Delete. AWS
calls go through the fault proxy, which counts them."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass

import pytest
from botocore.exceptions import ClientError

from binary_support import bare_zone_id, mutating, norm, record_sets
from testbed_fixtures import build_provider_network, build_public_zone, upsert_record

RESOURCE = "Custom::ServiceCertificate"
LOGICAL = "Certificate"
RUN = uuid.uuid4().hex[:6]  # names differ between runs, so a long-lived emulator can be reused
_n = itertools.count(1)
ALL_STATUSES = ["PENDING_VALIDATION", "ISSUED", "INACTIVE", "EXPIRED", "VALIDATION_TIMED_OUT",
                "REVOKED", "FAILED"]


@dataclass
class Site:
    domain: str
    zone: str  # bare hosted zone ID
    tls_listener: str  # has an imported default certificate
    tcp_listener: str


@pytest.fixture
def site(provider):
    """A public zone for a fresh domain and an NLB with a TLS and a TCP listener, in the
    provider's account."""
    domain = f"cert-{RUN}-{next(_n)}.example.com"
    zone = bare_zone_id(build_public_zone(provider, domain))
    net = build_provider_network(provider, ["use1-az1"], listeners=[("TLS", 443), ("TCP", 80)])
    return Site(domain, zone, tls_listener=net.listener_arns[0], tcp_listener=net.listener_arns[1])


def props(site: Site, name: str, sans=(), listeners=None) -> dict:
    p = {"DomainName": name, "HostedZoneId": site.zone,
         "ListenerArns": [site.tls_listener] if listeners is None else listeners,
         "ServiceTimeout": "60"}  # bounds a continuation chain that never settles
    if sans:
        p["SubjectAlternativeNames"] = list(sans)
    return p


def certificate(provider, arn: str):
    """DescribeCertificate's Certificate, None once it is deleted."""
    try:
        return provider.client("acm").describe_certificate(CertificateArn=arn)["Certificate"]
    except ClientError as e:
        if e.response["Error"]["Code"] == "ResourceNotFoundException":
            return None
        raise


def certificates_named(provider, name: str) -> list[str]:
    summaries = provider.client("acm").list_certificates(
        CertificateStatuses=ALL_STATUSES)["CertificateSummaryList"]
    return [s["CertificateArn"] for s in summaries if s.get("DomainName") == name]


def validation_cnames(cert: dict) -> dict[str, str]:
    return {norm(o["ResourceRecord"]["Name"]): o["ResourceRecord"]["Value"]
            for o in cert["DomainValidationOptions"]}


def served(provider, listener_arn: str) -> dict[str, bool]:
    """{certificate ARN: IsDefault} of a listener."""
    certs = provider.client("elbv2").describe_listener_certificates(
        ListenerArn=listener_arn)["Certificates"]
    return {c["CertificateArn"]: c["IsDefault"] for c in certs}


def cnames(provider, site: Site) -> dict[str, str]:
    return {n: v[0] for n, v in record_sets(provider, site.zone, "CNAME").items()}


def assert_published(provider, site: Site, cert: dict, present: bool = True):
    zone = cnames(provider, site)
    for name, value in validation_cnames(cert).items():
        if present:
            assert zone.get(name) == value, (name, zone)
        else:
            assert name not in zone, (name, zone)


# ---------------------------------------------------------------- D: the whole life


def test_issue_serve_repeat_replace_and_delete(relay_provider, cfn, provider, proxy, site):
    old_name = f"orders.{site.domain}"
    old_props = props(site, old_name, sans=[f"*.{old_name}"])
    default = [a for a, d in served(provider, site.tls_listener).items() if d]
    relayed_before = len(relay_provider.relay_calls())
    create = cfn.event(relay_provider, "Create", RESOURCE, LOGICAL, old_props)
    body = cfn.send(relay_provider, create)
    assert body["Status"] == "SUCCESS", body
    old = body["Data"]["CertificateArn"]
    assert body["PhysicalResourceId"] == old
    assert len(relay_provider.relay_calls()) > relayed_before, "issuance waited in continuations"

    old_cert = certificate(provider, old)
    assert old_cert["Status"] == "ISSUED"
    assert old_cert["DomainName"] == old_name
    assert old_cert["SubjectAlternativeNames"] == [old_name, f"*.{old_name}"]
    tags = provider.client("acm").list_tags_for_certificate(CertificateArn=old)["Tags"]
    assert {t["Key"] for t in tags} >= {"privatelink-autowire:stack-id",
                                        "privatelink-autowire:logical-id"}
    # The listener keeps its imported default certificate and serves this one by SNI.
    assert served(provider, site.tls_listener) == {default[0]: True, old: False}
    assert_published(provider, site, old_cert)
    assert len(cnames(provider, site)) == 1  # *.name is validated by name's record

    # The same request delivered again, late: its wait had been handed over, so it finds the
    # chain's claim and stands down (CloudFormation keeps one answer). Then a no-op Update.
    # Reads only, the claim's read included.
    proxy.reset_calls()
    assert relay_provider.invoke_detailed(create).ok
    noop = cfn.send(relay_provider, cfn.event(relay_provider, "Update", RESOURCE, LOGICAL,
                                              old_props, physical_id=old, old=old_props))
    assert noop["Status"] == "SUCCESS", noop
    assert noop["PhysicalResourceId"] == old and noop["Data"]["CertificateArn"] == old
    assert proxy.calls(), "the proxy saw the function's calls"
    assert mutating(proxy) == []
    assert len(cfn.answers(create)) == 1

    # A new DomainName is a new certificate: it takes the old one's place on the listener.
    new_props = props(site, f"api.{site.domain}")
    update = cfn.send(relay_provider, cfn.event(relay_provider, "Update", RESOURCE, LOGICAL,
                                                new_props, physical_id=old, old=old_props))
    assert update["Status"] == "SUCCESS", update
    new = update["PhysicalResourceId"]
    assert new != old and update["Data"]["CertificateArn"] == new
    new_cert = certificate(provider, new)
    assert new_cert["Status"] == "ISSUED" and new_cert["DomainName"] == f"api.{site.domain}"
    assert served(provider, site.tls_listener) == {default[0]: True, new: False}

    # CloudFormation then deletes the old physical ID (with the old properties).
    deleted = cfn.send(relay_provider, cfn.event(relay_provider, "Delete", RESOURCE, LOGICAL,
                                                 old_props, physical_id=old))
    assert deleted["Status"] == "SUCCESS", deleted
    assert deleted["PhysicalResourceId"] == old
    assert certificate(provider, old) is None
    assert_published(provider, site, old_cert, present=False)
    assert_published(provider, site, new_cert)
    assert served(provider, site.tls_listener) == {default[0]: True, new: False}

    # The stack goes away: everything of the new certificate goes too.
    gone = cfn.send(relay_provider, cfn.event(relay_provider, "Delete", RESOURCE, LOGICAL,
                                              new_props, physical_id=new))
    assert gone["Status"] == "SUCCESS", gone
    assert certificate(provider, new) is None
    assert cnames(provider, site) == {}
    assert served(provider, site.tls_listener) == {default[0]: True}

    proxy.reset_calls()
    again = cfn.send(relay_provider, cfn.event(relay_provider, "Delete", RESOURCE, LOGICAL,
                                               new_props, physical_id=new))
    assert again["Status"] == "SUCCESS", again
    assert mutating(proxy) == []


# ---------------------------------------------------------------- E: failures leave nothing


def test_a_caa_record_forbidding_amazon_fails_and_leaves_nothing(
        relay_provider, cfn, provider, proxy, site):
    upsert_record(provider, site.zone, site.domain, "CAA", ['0 issue "letsencrypt.org"'])
    name = f"orders.{site.domain}"
    default = dict(served(provider, site.tls_listener))
    proxy.reset_calls()
    body = cfn.send(relay_provider, cfn.event(relay_provider, "Create", RESOURCE, LOGICAL,
                                              props(site, name)))
    assert body["Status"] == "FAILED", body
    assert "CAA" in body["Reason"], body["Reason"]
    assert body["PhysicalResourceId"].startswith("autowire-create-failed:")
    assert proxy.count("RequestCertificate") == 1  # it was asked for, ACM refused to issue
    assert proxy.count("DeleteCertificate") == 1
    assert certificates_named(provider, name) == []
    assert cnames(provider, site) == {}
    assert served(provider, site.tls_listener) == default


def test_a_name_outside_the_zone_is_refused_before_any_request(
        relay_provider, cfn, provider, proxy, site):
    name = f"orders.elsewhere-{RUN}-{next(_n)}.example.org"
    proxy.reset_calls()
    body = cfn.send(relay_provider, cfn.event(relay_provider, "Create", RESOURCE, LOGICAL,
                                              props(site, name)))
    assert body["Status"] == "FAILED", body
    assert f"{name} is not in zone {site.zone}" in body["Reason"], body["Reason"]
    assert proxy.count("RequestCertificate") == 0
    assert mutating(proxy) == []
    assert certificates_named(provider, name) == []


def test_a_tcp_listener_is_refused_before_any_request(relay_provider, cfn, provider, proxy, site):
    name = f"orders.{site.domain}"
    proxy.reset_calls()
    body = cfn.send(relay_provider, cfn.event(relay_provider, "Create", RESOURCE, LOGICAL,
                                              props(site, name, listeners=[site.tcp_listener])))
    assert body["Status"] == "FAILED", body
    assert "certificates go on TLS listeners" in body["Reason"], body["Reason"]
    assert site.tcp_listener in body["Reason"] or "ListenerArns" in body["Reason"]
    assert mutating(proxy) == []
    assert certificates_named(provider, name) == []
    assert cnames(provider, site) == {}
