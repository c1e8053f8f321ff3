"""Behaviour 10 across accounts: a consumer-requested certificate. Provider A requests an ACM
certificate (DNS validation) for a name consumer B controls; B writes the validation CNAME in
B's own public, delegated Route 53 zone; A's certificate turns ISSUED and A serves it by SNI on
an NLB TLS listener."""

import itertools
import time

import pytest
from botocore.exceptions import ClientError

from testbed_fixtures import (
    aws_error,
    build_private_zone,
    build_provider_network,
    build_public_zone,
    set_zone_delegated,
    upsert_record,
)

_n = itertools.count(1)


def consumer_domain():
    return f"consumer{next(_n)}-{int(time.time() * 1000) % 10**7}.example.net"


def request(session, name):
    return session.client("acm").request_certificate(DomainName=name, ValidationMethod="DNS")[
        "CertificateArn"
    ]


def describe(session, arn):
    return session.client("acm").describe_certificate(CertificateArn=arn)["Certificate"]


def records_asked(session, arn):
    """The validation CNAMEs as the requester reads them (what A sends B)."""
    return [
        (o["ResourceRecord"]["Name"], o["ResourceRecord"]["Value"])
        for o in describe(session, arn)["DomainValidationOptions"]
    ]


def write(session, zone_id, records):
    for name, value in records:
        upsert_record(session, zone_id, name, "CNAME", [value])


def add_sni(session, listener_arn, arn):
    session.client("elbv2").add_listener_certificates(
        ListenerArn=listener_arn, Certificates=[{"CertificateArn": arn}]
    )


def test_a_cname_in_the_consumers_zone_issues_the_providers_certificate(provider, consumer):
    domain = consumer_domain()
    zone = build_public_zone(consumer, domain)  # B's public zone, delegated
    network = build_provider_network(provider, ["use1-az1"], listeners=(("TLS", 443),))
    [listener] = network.listener_arns
    arn = request(provider, f"orders.{domain}")
    [record] = records_asked(provider, arn)
    assert record[0].endswith(f".orders.{domain}.")

    # Not yet validated: A cannot serve it.
    assert describe(provider, arn)["Status"] == "PENDING_VALIDATION"
    with pytest.raises(ClientError) as e:
        add_sni(provider, listener, arn)
    assert aws_error(e) == ("CertificateNotFound", f"Certificate '{arn}' not found")

    write(consumer, zone, [record])
    cert = describe(provider, arn)
    assert cert["Status"] == "ISSUED"
    assert cert["DomainValidationOptions"][0]["ValidationStatus"] == "SUCCESS"
    add_sni(provider, listener, arn)
    listed = provider.client("elbv2").describe_listener_certificates(ListenerArn=listener)
    assert {"CertificateArn": arn, "IsDefault": False} in listed["Certificates"]
    assert describe(provider, arn)["InUseBy"] == [network.nlb_arn]


def test_a_wildcard_is_validated_by_the_record_of_its_base_name(provider, consumer):
    domain = consumer_domain()
    zone = build_public_zone(consumer, domain)
    arn = request(provider, f"*.orders.{domain}")
    [(name, value)] = records_asked(provider, arn)
    assert name.endswith(f".orders.{domain}.") and "*" not in name
    write(consumer, zone, [(name, value)])
    assert describe(provider, arn)["Status"] == "ISSUED"


def test_the_record_is_the_requesting_accounts_own(provider, consumer, outsider):
    """The CNAME B writes for another account's certificate of the same name does not validate
    A's: the record is derived from the requesting account and the name."""
    domain = consumer_domain()
    zone = build_public_zone(consumer, domain)
    mine, theirs = request(provider, f"api.{domain}"), request(outsider, f"api.{domain}")
    assert records_asked(provider, mine) != records_asked(outsider, theirs)
    write(consumer, zone, records_asked(outsider, theirs))
    assert describe(outsider, theirs)["Status"] == "ISSUED"
    assert describe(provider, mine)["Status"] == "PENDING_VALIDATION"


def test_only_a_public_delegated_consumer_zone_counts(provider, consumer):
    domain = consumer_domain()
    arn = request(provider, f"orders.{domain}")
    record = records_asked(provider, arn)
    vpc_id = consumer.client("ec2").create_vpc(CidrBlock="10.240.0.0/16")["Vpc"]["VpcId"]
    write(consumer, build_private_zone(consumer, domain, vpc_id), record)
    public = build_public_zone(consumer, domain)
    set_zone_delegated(consumer, public, False)  # the parent domain does not point at it yet
    write(consumer, public, record)
    assert describe(provider, arn)["Status"] == "PENDING_VALIDATION"
    set_zone_delegated(consumer, public, True)
    assert describe(provider, arn)["Status"] == "ISSUED"
