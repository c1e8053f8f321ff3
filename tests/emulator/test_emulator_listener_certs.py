"""Behaviour 11: certificates of ELBv2 listeners (default and certificate list), checked in ACM."""

import itertools
import time

import pytest
from botocore.exceptions import ClientError

from testbed_fixtures import (
    CONSUMER,
    aws_error,
    build_imported_certificate,
    build_public_zone,
    self_signed_certificate,
    upsert_record,
)

DNS_ACCOUNT = "444444444444"
_n = itertools.count(1)


def unique(label):
    return f"{label}-{next(_n)}-{int(time.time() * 1000) % 100000}"


@pytest.fixture(scope="module")
def network(provider):
    """(vpc_id, [two subnets in different zones], TCP target group ARN) in the provider."""
    ec2, elbv2 = provider.client("ec2"), provider.client("elbv2")
    vpc_id = ec2.create_vpc(CidrBlock="10.231.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"10.231.{i}.0/24", AvailabilityZoneId=az)[
            "Subnet"
        ]["SubnetId"]
        for i, az in enumerate(["use1-az1", "use1-az2"])
    ]
    tg = elbv2.create_target_group(
        Name=unique("lc-tg"), Protocol="TCP", Port=8080, VpcId=vpc_id, TargetType="ip"
    )["TargetGroups"][0]["TargetGroupArn"]
    return vpc_id, subnets, tg


@pytest.fixture
def nlb(provider, network):
    _, subnets, _ = network
    return provider.client("elbv2").create_load_balancer(
        Name=unique("lc-nlb"), Type="network", Scheme="internal", Subnets=subnets[:1]
    )["LoadBalancers"][0]["LoadBalancerArn"]


def listener(session, network, lb_arn, protocol="TLS", port=443, certificates=None):
    kwargs = {}
    if certificates is not None:
        kwargs["Certificates"] = [{"CertificateArn": c} for c in certificates]
    return session.client("elbv2").create_listener(
        LoadBalancerArn=lb_arn,
        Protocol=protocol,
        Port=port,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": network[2]}],
        **kwargs,
    )["Listeners"][0]


def imported(session):
    return build_imported_certificate(session, f"{unique('lc')}.example.com")


def pending(session):
    return session.client("acm").request_certificate(
        DomainName=f"{unique('pending')}.example.com", ValidationMethod="DNS"
    )["CertificateArn"]


def listed(session, listener_arn):
    certificates = session.client("elbv2").describe_listener_certificates(
        ListenerArn=listener_arn
    )["Certificates"]
    return [(c["CertificateArn"], c["IsDefault"]) for c in certificates]


NO_CERTIFICATE_ON_TCP = ("ValidationError", "A certificate cannot be specified for TCP listeners")


def not_found(arn):
    return ("CertificateNotFound", f"Certificate '{arn}' not found")


# ---------------------------------------------------------------- CreateListener


def test_tls_listener_needs_a_certificate(provider, network, nlb):
    with pytest.raises(ClientError) as e:
        listener(provider, network, nlb)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert aws_error(e) == ("ValidationError", "A certificate must be specified for TLS listeners")


def test_https_listener_needs_a_certificate(provider, network):
    alb = provider.client("elbv2").create_load_balancer(
        Name=unique("lc-alb"), Type="application", Scheme="internal", Subnets=network[1]
    )["LoadBalancers"][0]["LoadBalancerArn"]
    with pytest.raises(ClientError) as e:
        listener(provider, network, alb, protocol="HTTPS")
    assert aws_error(e) == (
        "ValidationError",
        "A certificate must be specified for HTTPS listeners",
    )
    created = listener(provider, network, alb, protocol="HTTPS", certificates=[imported(provider)])
    assert created["Protocol"] == "HTTPS"


def test_exactly_one_default_certificate(provider, network, nlb):
    with pytest.raises(ClientError) as e:
        listener(provider, network, nlb, certificates=[imported(provider), imported(provider)])
    assert aws_error(e) == (
        "InvalidConfigurationRequest",
        "You must provide a list containing exactly one certificate if the listener protocol "
        "is TLS.",
    )


def test_is_default_may_not_be_set(provider, network, nlb):
    with pytest.raises(ClientError) as e:
        provider.client("elbv2").create_listener(
            LoadBalancerArn=nlb,
            Protocol="TLS",
            Port=443,
            Certificates=[{"CertificateArn": imported(provider), "IsDefault": True}],
            DefaultActions=[{"Type": "forward", "TargetGroupArn": network[2]}],
        )
    assert aws_error(e) == (
        "ValidationError",
        "You cannot set the isDefault parameter for a certificate.",
    )


def test_tcp_listener_takes_no_certificate(provider, network, nlb):
    with pytest.raises(ClientError) as e:
        listener(provider, network, nlb, protocol="TCP", port=80, certificates=[imported(provider)])
    assert aws_error(e) == NO_CERTIFICATE_ON_TCP


def test_unknown_pending_or_foreign_certificates_are_not_found(provider, account, network, nlb):
    unknown = "arn:aws:acm:us-east-1:111111111111:certificate/00000000-0000-4000-8000-000000000000"
    foreign = imported(account(CONSUMER))
    waiting = pending(provider)
    for arn in (unknown, foreign, waiting):
        with pytest.raises(ClientError) as e:
            listener(provider, network, nlb, certificates=[arn])
        assert aws_error(e) == not_found(arn)


def test_a_requested_certificate_serves_once_issued(provider, account, network, nlb):
    domain = f"{unique('issued')}.example.com"
    arn = provider.client("acm").request_certificate(DomainName=domain, ValidationMethod="DNS")[
        "CertificateArn"
    ]
    with pytest.raises(ClientError) as e:
        listener(provider, network, nlb, certificates=[arn])
    assert aws_error(e) == not_found(arn)

    dns = account(DNS_ACCOUNT)
    zone = build_public_zone(dns, domain)
    options = provider.client("acm").describe_certificate(CertificateArn=arn)["Certificate"][
        "DomainValidationOptions"
    ]
    for option in options:
        record = option["ResourceRecord"]
        upsert_record(dns, zone, record["Name"], "CNAME", [record["Value"]])
    # ELBv2 looks at the certificate afresh: no ACM read is needed in between.
    created = listener(provider, network, nlb, certificates=[arn])
    assert created["Certificates"] == [{"CertificateArn": arn}]


def test_iam_server_certificates_are_accepted(provider, network, nlb):
    body, key = self_signed_certificate("iam.example.com")
    arn = provider.client("iam").upload_server_certificate(
        ServerCertificateName=unique("lc-iam"),
        CertificateBody=body.decode(),
        PrivateKey=key.decode(),
    )["ServerCertificateMetadata"]["Arn"]
    assert listener(provider, network, nlb, certificates=[arn])["Certificates"] == [
        {"CertificateArn": arn}
    ]


# ---------------------------------------------------------------- the certificate list


def test_add_describe_and_remove_listener_certificates(provider, network, nlb):
    elbv2 = provider.client("elbv2")
    default, extra, other = imported(provider), imported(provider), imported(provider)
    arn = listener(provider, network, nlb, certificates=[default])["ListenerArn"]
    assert listed(provider, arn) == [(default, True)]

    added = elbv2.add_listener_certificates(
        ListenerArn=arn, Certificates=[{"CertificateArn": extra}, {"CertificateArn": other}]
    )["Certificates"]
    assert {c["CertificateArn"] for c in added} == {extra, other}
    assert listed(provider, arn) == [(default, True), (extra, False), (other, False)]
    # Adding again changes nothing; DescribeListeners shows the default only.
    elbv2.add_listener_certificates(ListenerArn=arn, Certificates=[{"CertificateArn": extra}])
    assert listed(provider, arn) == [(default, True), (extra, False), (other, False)]
    shown = elbv2.describe_listeners(ListenerArns=[arn])["Listeners"][0]["Certificates"]
    assert shown == [{"CertificateArn": default}]

    elbv2.remove_listener_certificates(ListenerArn=arn, Certificates=[{"CertificateArn": extra}])
    assert listed(provider, arn) == [(default, True), (other, False)]


def test_the_default_certificate_cannot_be_removed(provider, network, nlb):
    elbv2 = provider.client("elbv2")
    default, extra = imported(provider), imported(provider)
    arn = listener(provider, network, nlb, certificates=[default])["ListenerArn"]
    elbv2.add_listener_certificates(ListenerArn=arn, Certificates=[{"CertificateArn": extra}])
    with pytest.raises(ClientError) as e:
        elbv2.remove_listener_certificates(
            ListenerArn=arn, Certificates=[{"CertificateArn": default}]
        )
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert aws_error(e) == ("OperationNotPermitted", "Default certificate cannot be removed.")
    assert listed(provider, arn) == [(default, True), (extra, False)]


def test_removing_a_certificate_the_listener_lacks(provider, network, nlb):
    elbv2 = provider.client("elbv2")
    default, stranger = imported(provider), imported(provider)
    arn = listener(provider, network, nlb, certificates=[default])["ListenerArn"]
    with pytest.raises(ClientError) as e:
        elbv2.remove_listener_certificates(
            ListenerArn=arn, Certificates=[{"CertificateArn": stranger}]
        )
    assert aws_error(e) == not_found(stranger)


def test_added_certificates_must_be_issued(provider, network, nlb):
    elbv2 = provider.client("elbv2")
    arn = listener(provider, network, nlb, certificates=[imported(provider)])["ListenerArn"]
    good, waiting = imported(provider), pending(provider)
    with pytest.raises(ClientError) as e:
        elbv2.add_listener_certificates(
            ListenerArn=arn,
            Certificates=[{"CertificateArn": good}, {"CertificateArn": waiting}],
        )
    assert aws_error(e) == not_found(waiting)
    assert len(listed(provider, arn)) == 1  # nothing was added


def test_certificates_cannot_be_added_to_a_tcp_listener(provider, network, nlb):
    arn = listener(provider, network, nlb, protocol="TCP", port=80)["ListenerArn"]
    with pytest.raises(ClientError) as e:
        provider.client("elbv2").add_listener_certificates(
            ListenerArn=arn, Certificates=[{"CertificateArn": imported(provider)}]
        )
    assert aws_error(e) == NO_CERTIFICATE_ON_TCP
    assert listed(provider, arn) == []


def test_unknown_listener(provider):
    arn = "arn:aws:elasticloadbalancing:us-east-1:111111111111:listener/net/x/0123456789abcdef/01"
    with pytest.raises(ClientError) as e:
        provider.client("elbv2").describe_listener_certificates(ListenerArn=arn)
    assert aws_error(e)[0] == "ListenerNotFound"


# ---------------------------------------------------------------- ModifyListener


def test_modify_listener_replaces_the_default(provider, network, nlb):
    elbv2 = provider.client("elbv2")
    first, second, extra = imported(provider), imported(provider), imported(provider)
    arn = listener(provider, network, nlb, certificates=[first])["ListenerArn"]
    elbv2.add_listener_certificates(ListenerArn=arn, Certificates=[{"CertificateArn": extra}])

    modified = elbv2.modify_listener(ListenerArn=arn, Certificates=[{"CertificateArn": second}])
    assert modified["Listeners"][0]["Certificates"] == [{"CertificateArn": second}]
    assert listed(provider, arn) == [(second, True), (extra, False)]

    for certificates, expected in (
        ([second, first], "InvalidConfigurationRequest"),
        ([pending(provider)], "CertificateNotFound"),
    ):
        with pytest.raises(ClientError) as e:
            elbv2.modify_listener(
                ListenerArn=arn, Certificates=[{"CertificateArn": c} for c in certificates]
            )
        assert aws_error(e)[0] == expected
    assert listed(provider, arn) == [(second, True), (extra, False)]


def test_modify_listener_between_tcp_and_tls(provider, network, nlb):
    elbv2 = provider.client("elbv2")
    arn = listener(provider, network, nlb, protocol="TCP", port=443)["ListenerArn"]
    with pytest.raises(ClientError) as e:
        elbv2.modify_listener(ListenerArn=arn, Protocol="TLS")
    assert aws_error(e) == ("ValidationError", "A certificate must be specified for TLS listeners")

    cert = imported(provider)
    elbv2.modify_listener(
        ListenerArn=arn,
        Protocol="TLS",
        Certificates=[{"CertificateArn": cert}],
        SslPolicy="ELBSecurityPolicy-TLS13-1-2-2021-06",
    )
    shown = elbv2.describe_listeners(ListenerArns=[arn])["Listeners"][0]
    assert shown["Protocol"] == "TLS"
    assert shown["Certificates"] == [{"CertificateArn": cert}]

    elbv2.modify_listener(ListenerArn=arn, Protocol="TCP")
    shown = elbv2.describe_listeners(ListenerArns=[arn])["Listeners"][0]
    assert shown["Protocol"] == "TCP"
    assert "Certificates" not in shown
    assert listed(provider, arn) == []
