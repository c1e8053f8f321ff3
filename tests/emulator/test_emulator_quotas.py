"""Behaviour 17: account quotas (autowire_ext/quotas.py): ACM certificate requests per year
(LimitExceededException), certificates per load balancer (TooManyCertificates), and the
/_autowire/quotas endpoint that makes them small for one account."""

import itertools
import json
import time
import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError

from testbed_fixtures import aws_error, build_imported_certificate, build_provider_network
from testbed_quotas import account_quotas, allow_more_certificates, set_quotas

_n = itertools.count(1)
REGION = "us-east-1"


@pytest.fixture
def fresh(account):
    """A session of an account no other test uses (quotas and counts are per account)."""
    return account(f"7{int(time.time()) % 10**6:06d}{next(_n):05d}")


def limit_message(n):
    return f"Error: you have reached your limit of {n} certificates in the last year."


def request(session, name=None, **kwargs):
    name = name or f"quota{next(_n)}.example.com"
    return session.client("acm").request_certificate(
        DomainName=name, ValidationMethod="DNS", **kwargs
    )["CertificateArn"]


def refused(session, **kwargs):
    with pytest.raises(ClientError) as e:
        request(session, **kwargs)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return aws_error(e)


def raw(emulator_url, method, body=None, query=""):
    """(HTTP status, decoded JSON answer) of a request to the quotas endpoint; `body` is sent as
    JSON, or as it is if bytes."""
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"{emulator_url}/_autowire/quotas{query}", data, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


# ---------------------------------------------------------------- the endpoint


def test_the_endpoint_sets_reads_and_resets_an_accounts_quotas(emulator_url, fresh):
    acct = fresh.account_id
    status, listing = raw(emulator_url, "GET")
    assert status == 200
    assert listing["defaults"] == {"acm_certificates": 5000, "listener_certificates": 25}
    assert acct not in listing["accounts"]
    assert account_quotas(emulator_url, acct) == {
        "account": acct,
        "acm_certificates": 5000,
        "listener_certificates": 25,
        "acm_certificates_requested": {},
    }

    answer = set_quotas(emulator_url, acct, acm_certificates=3)
    assert (answer["acm_certificates"], answer["listener_certificates"]) == (3, 25)
    set_quotas(emulator_url, acct, listener_certificates=0)
    request(fresh)
    assert raw(emulator_url, "GET")[1]["accounts"][acct] == {
        "acm_certificates": 3,
        "listener_certificates": 0,
        "acm_certificates_requested": {REGION: 1},
    }
    # null: back to AWS's default; the count stays.
    answer = set_quotas(emulator_url, acct, acm_certificates=None, listener_certificates=None)
    assert answer == {
        "account": acct,
        "acm_certificates": 5000,
        "listener_certificates": 25,
        "acm_certificates_requested": {REGION: 1},
    }


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"",
        [],
        {"acm_certificates": 1},
        {"account": "1234", "acm_certificates": 1},
        {"account": 111111111111, "acm_certificates": 1},
        {"account": "111111111111"},
        {"account": "111111111111", "certificates": 1},
        {"account": "111111111111", "acm_certificates": -1},
        {"account": "111111111111", "acm_certificates": "3"},
        {"account": "111111111111", "listener_certificates": True},
        {"account": "111111111111", "listener_certificates": 2.5},
    ],
)
def test_bad_bodies_are_400_and_change_nothing(emulator_url, body):
    status, answer = raw(emulator_url, "POST", body)
    assert status == 400 and answer["error"]
    assert account_quotas(emulator_url, "111111111111")["acm_certificates"] == 5000


def test_other_methods_and_bad_queries(emulator_url):
    assert raw(emulator_url, "PUT", {})[0] == 405
    assert raw(emulator_url, "DELETE")[0] == 405
    assert raw(emulator_url, "GET", query="?account=12")[0] == 400


# ---------------------------------------------------------------- ACM certificates per year


def test_requests_beyond_the_quota_fail(emulator_url, fresh):
    set_quotas(emulator_url, fresh.account_id, acm_certificates=2)
    made = {request(fresh), request(fresh)}
    assert refused(fresh) == ("LimitExceededException", limit_message(2))
    listed = fresh.client("acm").list_certificates()["CertificateSummaryList"]
    assert {c["CertificateArn"] for c in listed} == made
    assert account_quotas(emulator_url, fresh.account_id)["acm_certificates_requested"] == {
        REGION: 2
    }


def test_deleted_certificates_still_count(emulator_url, fresh):
    set_quotas(emulator_url, fresh.account_id, acm_certificates=1)
    fresh.client("acm").delete_certificate(CertificateArn=request(fresh))
    assert fresh.client("acm").list_certificates()["CertificateSummaryList"] == []
    assert refused(fresh) == ("LimitExceededException", limit_message(1))


def test_idempotent_retries_do_not_count(emulator_url, fresh):
    set_quotas(emulator_url, fresh.account_id, acm_certificates=2)
    name = f"retry{next(_n)}.example.com"
    first = request(fresh, name, IdempotencyToken="first")
    assert request(fresh, name, IdempotencyToken="first") == first
    second = request(fresh, name, IdempotencyToken="second")
    # At the quota, a retry still answers with its certificate; a new request fails.
    assert request(fresh, name, IdempotencyToken="first") == first
    assert request(fresh, name, IdempotencyToken="second") == second
    assert refused(fresh, name=name, IdempotencyToken="third")[0] == "LimitExceededException"
    assert account_quotas(emulator_url, fresh.account_id)["acm_certificates_requested"] == {
        REGION: 2
    }


def test_private_and_imported_certificates_do_not_count(emulator_url, fresh):
    set_quotas(emulator_url, fresh.account_id, acm_certificates=0)
    authority = f"arn:aws:acm-pca:{REGION}:{fresh.account_id}:certificate-authority/{next(_n)}"
    request(fresh, CertificateAuthorityArn=authority)
    build_imported_certificate(fresh, "imported.example.com")
    assert refused(fresh) == ("LimitExceededException", limit_message(0))


def test_the_quota_is_per_account_and_can_be_raised(emulator_url, fresh, account):
    set_quotas(emulator_url, fresh.account_id, acm_certificates=0)
    other = account(f"8{fresh.account_id[1:]}")
    request(other)  # another account keeps AWS's default
    assert refused(fresh)[0] == "LimitExceededException"
    allow_more_certificates(emulator_url, fresh.account_id, 1)
    request(fresh)
    assert refused(fresh) == ("LimitExceededException", limit_message(1))


# ---------------------------------------------------------------- certificates per load balancer

TOO_MANY = (
    "TooManyCertificates",
    "You've reached the limit on the number of certificates per load balancer",
)


def tls_load_balancer(session):
    """An NLB with two TLS listeners (each with its default certificate) → their ARNs."""
    network = build_provider_network(session, ["use1-az1"], listeners=(("TLS", 443), ("TLS", 8443)))
    return network.listener_arns


def certificates(session, count):
    return [build_imported_certificate(session, f"sni{next(_n)}.example.com") for _ in range(count)]


def add(session, listener_arn, arns):
    session.client("elbv2").add_listener_certificates(
        ListenerArn=listener_arn, Certificates=[{"CertificateArn": a} for a in arns]
    )


def listed(session, listener_arn):
    found = session.client("elbv2").describe_listener_certificates(ListenerArn=listener_arn)
    return [c["CertificateArn"] for c in found["Certificates"] if not c["IsDefault"]]


def too_many(session, listener_arn, arns):
    with pytest.raises(ClientError) as e:
        add(session, listener_arn, arns)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return aws_error(e)


def test_a_load_balancer_takes_25_certificates_besides_its_defaults(fresh):
    first, second = tls_load_balancer(fresh)
    arns = certificates(fresh, 26)
    add(fresh, first, arns[:13])
    add(fresh, second, arns[13:25])  # 25 on the load balancer, defaults not counted
    assert too_many(fresh, second, arns[25:]) == TOO_MANY
    assert too_many(fresh, first, [arns[25], arns[0]]) == TOO_MANY  # nothing is added
    assert len(listed(fresh, first)) == 13 and len(listed(fresh, second)) == 12
    # A certificate the load balancer already has costs nothing on its other listener.
    add(fresh, second, [arns[0]])
    fresh.client("elbv2").remove_listener_certificates(
        ListenerArn=first, Certificates=[{"CertificateArn": arns[1]}]
    )
    add(fresh, first, [arns[25]])
    assert len(listed(fresh, first)) == 13


def test_the_listener_certificate_quota_can_be_made_small(emulator_url, fresh):
    set_quotas(emulator_url, fresh.account_id, listener_certificates=2)
    first, second = tls_load_balancer(fresh)
    arns = certificates(fresh, 3)
    add(fresh, first, arns[:1])
    add(fresh, second, arns[1:2])
    assert too_many(fresh, first, arns[2:]) == TOO_MANY
    assert listed(fresh, first) == arns[:1]
    set_quotas(emulator_url, fresh.account_id, listener_certificates=None)
    add(fresh, first, arns[2:])
    assert listed(fresh, first) == [arns[0], arns[2]]
