"""Behaviour 10: ACM DNS validation through public Route 53 records, CAA, certificates in use."""

import itertools
import re
import time

import pytest
from botocore.exceptions import ClientError

from testbed_fixtures import (
    PROVIDER,
    assume_account,
    aws_error,
    build_imported_certificate,
    build_public_zone,
    set_zone_delegated,
    start_emulator,
    stop_emulator,
    upsert_record,
)

DNS_ACCOUNT = "444444444444"  # holds the public zones, like a separate DNS account would
_domains = itertools.count(1)

RECORD_NAME = re.compile(r"_[0-9a-f]{32}\.(?P<domain>.+)\.")
RECORD_VALUE = re.compile(r"_[0-9a-f]{32}\.[a-z0-9]{10}\.acm-validations\.aws\.")


def new_domain(label="acm"):
    """A domain no other test uses, so zones and CAA records of other tests do not apply."""
    return f"{label}{next(_domains)}-{int(time.time() * 1000) % 10**7}.example.com"


def request(session, domain, sans=None):
    kwargs = {"SubjectAlternativeNames": sans} if sans else {}
    return session.client("acm").request_certificate(
        DomainName=domain, ValidationMethod="DNS", **kwargs
    )["CertificateArn"]


def describe(session, arn):
    return session.client("acm").describe_certificate(CertificateArn=arn)["Certificate"]


def validation_records(session, arn):
    """{(name, value)} of the CNAMEs a certificate asks for."""
    return {
        (o["ResourceRecord"]["Name"], o["ResourceRecord"]["Value"])
        for o in describe(session, arn)["DomainValidationOptions"]
    }


def publish(session, zone_id, records):
    for name, value in records:
        upsert_record(session, zone_id, name, "CNAME", [value])


def caa(session, zone_id, name, *values):
    upsert_record(session, zone_id, name, "CAA", list(values))


# ---------------------------------------------------------------- what a request shows


def test_dns_validation_options_list_every_name_with_its_cname(provider):
    domain = new_domain()
    arn = request(provider, domain, sans=[f"*.{domain}", f"api.{domain}", domain])
    cert = describe(provider, arn)
    assert cert["Status"] == "PENDING_VALIDATION"
    assert cert["Type"] == "AMAZON_ISSUED"
    assert "IssuedAt" not in cert
    assert cert["DomainName"] == domain
    assert cert["SubjectAlternativeNames"] == [domain, f"*.{domain}", f"api.{domain}"]
    options = cert["DomainValidationOptions"]
    assert [o["DomainName"] for o in options] == [domain, f"*.{domain}", f"api.{domain}"]
    for option in options:
        assert option["ValidationMethod"] == "DNS"
        assert option["ValidationStatus"] == "PENDING_VALIDATION"
        record = option["ResourceRecord"]
        assert record["Type"] == "CNAME"
        m = RECORD_NAME.fullmatch(record["Name"])
        assert m and m.group("domain") == option["DomainName"].removeprefix("*.")
        assert RECORD_VALUE.fullmatch(record["Value"])
    # The wildcard is validated by the record of its base domain.
    assert options[0]["ResourceRecord"] == options[1]["ResourceRecord"]
    assert options[0]["ResourceRecord"] != options[2]["ResourceRecord"]


def test_the_same_domain_gets_the_same_record_within_an_account(provider, account):
    domain = new_domain()
    first = validation_records(provider, request(provider, domain))
    again = validation_records(provider, request(provider, f"*.{domain}"))
    elsewhere = validation_records(account(DNS_ACCOUNT), request(account(DNS_ACCOUNT), domain))
    assert first == again
    assert first != elsewhere


def test_without_records_the_certificate_stays_pending(provider, account):
    domain = new_domain()
    arn = request(provider, domain, sans=[f"www.{domain}"])
    dns = account(DNS_ACCOUNT)
    zone = build_public_zone(dns, domain)
    records = sorted(validation_records(provider, arn))
    # Only one of the two names, and a wrong value for the other: still pending.
    publish(dns, zone, [records[0], (records[1][0], "_0.wrong.acm-validations.aws.")])
    cert = describe(provider, arn)
    assert cert["Status"] == "PENDING_VALIDATION"
    assert {o["ValidationStatus"] for o in cert["DomainValidationOptions"]} == {
        "PENDING_VALIDATION"
    }
    summaries = provider.client("acm").list_certificates()["CertificateSummaryList"]
    assert [s["Status"] for s in summaries if s["CertificateArn"] == arn] == [
        "PENDING_VALIDATION"
    ]


def test_records_in_a_public_zone_of_another_account_issue_the_certificate(provider, account):
    domain = new_domain()
    arn = request(provider, domain, sans=[f"*.{domain}", f"www.{domain}"])
    dns = account(DNS_ACCOUNT)
    zone = build_public_zone(dns, domain)
    records = validation_records(provider, arn)
    assert len(records) == 2  # the wildcard shares the apex's record
    publish(dns, zone, records)

    cert = describe(provider, arn)
    assert cert["Status"] == "ISSUED"
    assert "IssuedAt" in cert
    assert "FailureReason" not in cert
    assert {o["ValidationStatus"] for o in cert["DomainValidationOptions"]} == {"SUCCESS"}
    acm = provider.client("acm")
    issued = acm.list_certificates(CertificateStatuses=["ISSUED"])["CertificateSummaryList"]
    assert arn in {s["CertificateArn"] for s in issued}
    assert acm.get_certificate(CertificateArn=arn)["Certificate"].startswith("-----BEGIN")


def test_records_may_be_written_without_the_final_dots_and_in_a_parent_zone(provider, account):
    domain = new_domain()
    arn = request(provider, f"deep.{domain}")
    dns = account(DNS_ACCOUNT)
    zone = build_public_zone(dns, domain)
    records = validation_records(provider, arn)
    publish(dns, zone, {(name.rstrip("."), value.rstrip(".")) for name, value in records})
    assert describe(provider, arn)["Status"] == "ISSUED"


def test_records_in_a_private_zone_do_not_validate(provider, account):
    domain = new_domain()
    arn = request(provider, domain)
    dns = account(DNS_ACCOUNT)
    vpc_id = dns.client("ec2").describe_vpcs()["Vpcs"][0]["VpcId"]
    private = dns.client("route53").create_hosted_zone(
        Name=domain,
        CallerReference=f"autowire-acm-private-{time.time()}",
        VPC={"VPCRegion": "us-east-1", "VPCId": vpc_id},
        HostedZoneConfig={"PrivateZone": True, "Comment": "not public"},
    )["HostedZone"]["Id"]
    publish(dns, private, validation_records(provider, arn))
    assert describe(provider, arn)["Status"] == "PENDING_VALIDATION"


def test_records_in_an_undelegated_zone_do_not_validate(provider, account):
    domain = new_domain("undelegated")
    arn = request(provider, domain)
    dns = account(DNS_ACCOUNT)
    zone = build_public_zone(dns, domain)
    set_zone_delegated(dns, zone, False)
    publish(dns, zone, validation_records(provider, arn))
    assert describe(provider, arn)["Status"] == "PENDING_VALIDATION"
    # The parent domain delegates to the zone: public DNS now finds the records.
    set_zone_delegated(dns, zone, True)
    assert describe(provider, arn)["Status"] == "ISSUED"


def test_an_undelegated_subzone_leaves_its_names_to_the_parent_zone(provider, account):
    dns = account(DNS_ACCOUNT)
    domain = new_domain("parent")
    parent = build_public_zone(dns, domain)
    child = build_public_zone(dns, f"sub.{domain}")
    set_zone_delegated(dns, child, False)
    # The child's CAA would forbid Amazon, but public DNS never reaches the child: the parent
    # answers for sub.<domain>, and its records are the ones that count.
    caa(dns, child, f"sub.{domain}", '0 issue "letsencrypt.org"')
    arn = request(provider, f"www.sub.{domain}")
    publish(dns, child, validation_records(provider, arn))
    assert describe(provider, arn)["Status"] == "PENDING_VALIDATION"
    publish(dns, parent, validation_records(provider, arn))
    assert describe(provider, arn)["Status"] == "ISSUED"


def test_without_a_validation_method_acm_waits_for_email(provider):
    domain = new_domain()
    arn = provider.client("acm").request_certificate(DomainName=domain)["CertificateArn"]
    cert = describe(provider, arn)
    assert cert["Status"] == "PENDING_VALIDATION"
    option = cert["DomainValidationOptions"][0]
    assert option["ValidationMethod"] == "EMAIL"
    assert f"admin@{domain}" in option["ValidationEmails"]
    assert "ResourceRecord" not in option


# ---------------------------------------------------------------- CAA


def issue_with_caa(provider, dns, domain, names, caa_at, caa_values):
    """Requests a certificate for `names`, publishes its records in a zone for `domain` with
    CAA `caa_values` at `caa_at`, and returns the certificate as described."""
    arn = request(provider, names[0], sans=names[1:] or None)
    zone = build_public_zone(dns, domain)
    if caa_values:
        caa(dns, zone, caa_at, *caa_values)
    publish(dns, zone, validation_records(provider, arn))
    return describe(provider, arn)


def test_caa_without_amazon_fails_the_certificate(provider, account):
    domain = new_domain("caa")
    cert = issue_with_caa(
        provider,
        account(DNS_ACCOUNT),
        domain,
        [f"www.{domain}"],
        domain,
        ['0 issue "letsencrypt.org"'],
    )
    assert cert["Status"] == "FAILED"
    assert cert["FailureReason"] == "CAA_ERROR"
    assert cert["DomainValidationOptions"][0]["ValidationStatus"] == "FAILED"
    assert "IssuedAt" not in cert


AMAZON_ISSUERS = ["amazon.com", "amazontrust.com", "awstrust.com", "amazonaws.com"]


@pytest.mark.parametrize("issuer", AMAZON_ISSUERS)
def test_caa_naming_amazon_allows_issuance(provider, account, issuer):
    domain = new_domain("caa")
    cert = issue_with_caa(
        provider,
        account(DNS_ACCOUNT),
        domain,
        [domain],
        domain,
        ['0 issue "letsencrypt.org"', f'0 issue "{issuer}"'],
    )
    assert cert["Status"] == "ISSUED"


def test_the_nearest_caa_record_set_applies(provider, account):
    dns = account(DNS_ACCOUNT)
    domain = new_domain("caa")
    # CAA at the apex only: it applies to a name two labels down.
    cert = issue_with_caa(
        provider, dns, domain, [f"a.b.{domain}"], domain, ['0 issue "letsencrypt.org"']
    )
    assert cert["Status"] == "FAILED"
    # A closer CAA record set that names Amazon wins over the apex's.
    domain = new_domain("caa")
    arn = request(provider, f"a.b.{domain}")
    zone = build_public_zone(dns, domain)
    caa(dns, zone, domain, '0 issue "letsencrypt.org"')
    caa(dns, zone, f"b.{domain}", '0 issue "amazon.com"')
    publish(dns, zone, validation_records(provider, arn))
    assert describe(provider, arn)["Status"] == "ISSUED"


def test_caa_without_issue_properties_does_not_restrict(provider, account):
    domain = new_domain("caa")
    cert = issue_with_caa(
        provider,
        account(DNS_ACCOUNT),
        domain,
        [domain],
        domain,
        ['0 iodef "mailto:security@example.com"'],
    )
    assert cert["Status"] == "ISSUED"


def test_wildcard_names_use_issuewild_when_present(provider, account):
    dns = account(DNS_ACCOUNT)
    domain = new_domain("caa")
    values = ['0 issue "amazon.com"', '0 issuewild "letsencrypt.org"']
    plain = issue_with_caa(provider, dns, domain, [f"www.{domain}"], domain, values)
    assert plain["Status"] == "ISSUED"

    domain = new_domain("caa")
    wild = issue_with_caa(provider, dns, domain, [domain, f"*.{domain}"], domain, values)
    assert wild["Status"] == "FAILED"
    assert wild["FailureReason"] == "CAA_ERROR"
    assert [o["ValidationStatus"] for o in wild["DomainValidationOptions"]] == [
        "SUCCESS",
        "FAILED",
    ]

    # Without issuewild, a wildcard follows the issue properties.
    domain = new_domain("caa")
    ok = issue_with_caa(provider, dns, domain, [f"*.{domain}"], domain, ['0 issue "amazon.com"'])
    assert ok["Status"] == "ISSUED"


# ---------------------------------------------------------------- in use


def tls_listener(session, certificate_arn):
    """An NLB with a TLS listener on the certificate; returns (nlb_arn, listener_arn)."""
    ec2, elbv2 = session.client("ec2"), session.client("elbv2")
    n = next(_domains) % 200 + 20
    vpc_id = ec2.create_vpc(CidrBlock=f"10.{n}.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(
        VpcId=vpc_id, CidrBlock=f"10.{n}.1.0/24", AvailabilityZoneId="use1-az1"
    )["Subnet"]["SubnetId"]
    suffix = f"{n}-{int(time.time() * 1000) % 100000}"
    nlb = elbv2.create_load_balancer(
        Name=f"acm-nlb-{suffix}", Type="network", Scheme="internal", Subnets=[subnet]
    )["LoadBalancers"][0]["LoadBalancerArn"]
    tg = elbv2.create_target_group(
        Name=f"acm-tg-{suffix}", Protocol="TCP", Port=8080, VpcId=vpc_id, TargetType="ip"
    )["TargetGroups"][0]["TargetGroupArn"]
    listener = elbv2.create_listener(
        LoadBalancerArn=nlb,
        Protocol="TLS",
        Port=443,
        Certificates=[{"CertificateArn": certificate_arn}],
        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}],
    )["Listeners"][0]["ListenerArn"]
    return nlb, listener


def test_a_certificate_in_use_cannot_be_deleted(provider):
    domain = new_domain()
    arn = build_imported_certificate(provider, domain)
    acm = provider.client("acm")
    assert describe(provider, arn)["InUseBy"] == []
    nlb, listener = tls_listener(provider, arn)
    assert describe(provider, arn)["InUseBy"] == [nlb]
    summary = [
        s for s in acm.list_certificates()["CertificateSummaryList"] if s["CertificateArn"] == arn
    ]
    assert summary[0]["InUse"] is True

    with pytest.raises(ClientError) as e:
        acm.delete_certificate(CertificateArn=arn)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert aws_error(e) == (
        "ResourceInUseException",
        f"Certificate {arn} in account {PROVIDER} is in use.",
    )

    provider.client("elbv2").delete_listener(ListenerArn=listener)
    assert describe(provider, arn)["InUseBy"] == []
    acm.delete_certificate(CertificateArn=arn)
    with pytest.raises(ClientError) as e:
        describe(provider, arn)
    assert aws_error(e)[0] == "ResourceNotFoundException"


def test_a_certificate_in_a_listener_certificate_list_is_in_use(provider):
    default = build_imported_certificate(provider, new_domain())
    extra = build_imported_certificate(provider, new_domain())
    nlb, listener = tls_listener(provider, default)
    provider.client("elbv2").add_listener_certificates(
        ListenerArn=listener, Certificates=[{"CertificateArn": extra}]
    )
    assert describe(provider, extra)["InUseBy"] == [nlb]
    with pytest.raises(ClientError) as e:
        provider.client("acm").delete_certificate(CertificateArn=extra)
    assert aws_error(e)[0] == "ResourceInUseException"
    # Deleting the load balancer frees both.
    provider.client("elbv2").delete_load_balancer(LoadBalancerArn=nlb)
    provider.client("acm").delete_certificate(CertificateArn=extra)
    provider.client("acm").delete_certificate(CertificateArn=default)


def test_deleting_an_unknown_certificate(provider):
    arn = f"arn:aws:acm:us-east-1:{PROVIDER}:certificate/00000000-0000-4000-8000-000000000000"
    with pytest.raises(ClientError) as e:
        provider.client("acm").delete_certificate(CertificateArn=arn)
    assert aws_error(e) == (
        "ResourceNotFoundException",
        f"Certificate with arn {arn} not found in account {PROVIDER}",
    )


# ---------------------------------------------------------------- timing


def test_issuance_waits_for_the_delay_and_ignores_motos_wait():
    """moto would issue after MOTO_ACM_VALIDATION_WAIT whatever DNS says; ACM waits for the
    records, then takes a while (AUTOWIRE_EMULATOR_ACM_DELAY_S)."""
    url, proc = start_emulator(
        env={"MOTO_ACM_VALIDATION_WAIT": "0", "AUTOWIRE_EMULATOR_ACM_DELAY_S": "0.6"}
    )
    try:
        session = assume_account(url, PROVIDER)
        domain = new_domain("slow")
        arn = request(session, domain)
        time.sleep(0.2)
        assert describe(session, arn)["Status"] == "PENDING_VALIDATION"

        publish(session, build_public_zone(session, domain), validation_records(session, arn))
        started = time.monotonic()
        assert describe(session, arn)["Status"] == "PENDING_VALIDATION"
        status = "PENDING_VALIDATION"
        while status == "PENDING_VALIDATION" and time.monotonic() - started < 10:
            time.sleep(0.1)
            status = describe(session, arn)["Status"]
        assert status == "ISSUED"
        assert time.monotonic() - started >= 0.6
    finally:
        stop_emulator(proc)
