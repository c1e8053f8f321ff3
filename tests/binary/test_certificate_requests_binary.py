"""Consumer-requested certificates (contract §5) through the real binaries, in two accounts: the
provider A (111111111111) and the consumer B (222222222222).

B's link (the real consumer binary) asks on B's bus; the emulator forwards the message to A's bus
(its policy admits B) and A's rule hands it to A's reconciler (the real binary); A's answers go
back the same way to B's reconciler, which writes the validation record in B's own public zone.
ACM (the emulator) issues A's certificate once that record is public; A's scheduled pass serves
it by SNI on the service's TLS listener and says so; the link answers SUCCESS. Each message is
handed to its function as Lambda would (`pump`), so a test can also drop one on the way.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest

from binary_support import harness, mutating
from eventbed import certificate_buses
from outbox import take_events
from testbed_quotas import allow_more_certificates, set_quotas
from test_link_binary import (  # noqa: F401  fixtures and helpers of the link's own tests
    CANDIDATE_AZ_IDS,
    LINK,
    PUBLICATION,
    answer_ok,
    auto_service,
    candidates,
    cfn_a,
    cfn_b,
    deliver,
    finish,
    link_props,
    provider_proxy,
    publish,
    tail,
)
from testbed_fixtures import (
    CONSUMER,
    OUTSIDER,
    PROVIDER,
    REGION,
    build_consumer_vpc,
    build_public_zone,
)

TEAM = "team-b.example.com"  # B's own public domain
ASKING_TIMEOUT_S = 5  # shorter than the link's 10 s certificate poll: the wait is handed over
RECONCILER_TIMEOUT_S = 60


def reconciler_arn(account: str) -> str:
    """This module's reconcilers: an outbox of their own, apart from the other reconciler tests'
    (which share the emulator when they run in the same worker)."""
    return f"arn:aws:lambda:{REGION}:{account}:function:reconciler-certificates"


def bus_name(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def buses(provider, consumer):
    return certificate_buses(provider, consumer, reconciler_arn(PROVIDER),
                             reconciler_arn(CONSUMER))


def on_bus(name: str, session, proxy, timeout_s: float, bus_arn: str):
    """Function `name` in `session`'s account, its handshake messages on `bus_arn`."""
    return harness(name, session, proxy, timeout_s, {"EVENT_BUS_NAME": bus_name(bus_arn)})


@pytest.fixture(scope="module")
def publisher(provider, provider_proxy, buses):
    """A's provider function, knowing A's bus (a publication's Delete tells consumers)."""
    with on_bus("provider", provider, provider_proxy, 30, buses[0]) as h:
        yield h


@pytest.fixture(scope="module")
def reconciler_a(provider, provider_proxy, buses):
    with on_bus("reconciler", provider, provider_proxy, RECONCILER_TIMEOUT_S, buses[0]) as h:
        yield h


@pytest.fixture(scope="module")
def reconciler_b(consumer, proxy, buses):
    with on_bus("reconciler", consumer, proxy, RECONCILER_TIMEOUT_S, buses[1]) as h:
        yield h


@pytest.fixture(scope="module")
def asking_fn(consumer, proxy, buses):
    with on_bus("consumer", consumer, proxy, ASKING_TIMEOUT_S, buses[1]) as h:
        yield h


@pytest.fixture(scope="module")
def team_zone(consumer) -> str:
    return build_public_zone(consumer, TEAM).rsplit("/", 1)[-1]


# ---------------------------------------------------------------- helpers


def pump(emulator_url: str, fn, account: str, drop: bool = False) -> list[str]:
    """Hand every message waiting for `account`'s reconciler to it (or drop them, as a lost
    event); their detail types."""
    events = [e for e in take_events(emulator_url, reconciler_arn(account))
              if e.get("source") == "privatelink-autowire"]
    if not drop:
        for e in events:
            inv = fn.invoke_detailed(e)
            assert inv.ok, f"{inv.error}\n{tail(fn)}"
    return [e["detail-type"] for e in events]


def scheduled(fn, account: str) -> dict:
    """One scheduled pass of `account`'s reconciler; its answer."""
    event = {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event",
             "source": "aws.events", "account": account, "region": REGION,
             "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
             "resources": [f"arn:aws:events:{REGION}:{account}:rule/backstop"], "detail": {}}
    inv = fn.invoke_detailed(event)
    assert inv.ok, f"{inv.error}\n{tail(fn)}"
    return inv.result


def certificates_for(provider, name: str) -> list[str]:
    acm = provider.client("acm")
    return [c["CertificateArn"] for c in acm.list_certificates()["CertificateSummaryList"]
            if c["DomainName"] == name]


def served(provider, listener_arn: str) -> list[str]:
    certs = provider.client("elbv2").describe_listener_certificates(
        ListenerArn=listener_arn)["Certificates"]
    return [c["CertificateArn"] for c in certs if not c.get("IsDefault")]


def validation_records(consumer, zone: str, alias: str) -> list[str]:
    """The validation CNAME records for `alias` in `zone`."""
    sets = consumer.client("route53").list_resource_record_sets(HostedZoneId=zone)
    return [r["Name"] for r in sets["ResourceRecordSets"]
            if r["Type"] == "CNAME" and r["Name"].startswith("_")
            and r["Name"].rstrip(".").endswith(f".{alias}")]


def tls_listener(service) -> str:
    return service.listener_arns[-1]


def asking(cfn_b, fn, pub, consumer, zone: str, alias: str, kind="Create", **more) -> dict:
    vpc_id, subnets = build_consumer_vpc(consumer, CANDIDATE_AZ_IDS)
    props = link_props(pub, vpc_id, candidates(subnets), AliasName=alias,
                       AliasCertificate="request", AliasValidationZoneId=zone, **more)
    return cfn_b.event(fn, kind, LINK, "OrdersLink", props)


def delete_of(cfn, fn, e: dict, body: dict) -> dict:
    return cfn.event(fn, "Delete", e["ResourceType"], e["LogicalResourceId"],
                     e["ResourceProperties"], physical_id=body["PhysicalResourceId"])


def calls_of(proxy, since: int) -> tuple[int, int]:
    """(all AWS calls, mutating ones) through `proxy` since call number `since`."""
    calls = proxy.calls()[since:]
    return len(calls), len(mutating(proxy, calls))


# ---------------------------------------------------------------- the whole flow


def test_a_consumer_s_own_name_is_issued_served_and_released(
        emulator_url, provider, consumer, publish, auto_service, cfn_b, asking_fn, reconciler_a,
        reconciler_b, team_zone, proxy, provider_proxy, record_property):
    pub = publish(auto_service, "own-name", CertificateRequests=[f"{CONSUMER}:{TEAM}"])
    alias = f"orders-{uuid.uuid4().hex[:6]}.{TEAM}"
    e = asking(cfn_b, asking_fn, pub, consumer, team_zone, alias)
    a0, b0, started = len(provider_proxy.calls()), len(proxy.calls()), time.monotonic()
    deliver(asking_fn, e)  # endpoint, alias, then the request; the wait is handed over
    assert pump(emulator_url, reconciler_a, PROVIDER) == ["Certificate Requested"]
    assert certificates_for(provider, alias), "A requested the certificate"
    assert served(provider, tls_listener(auto_service)) == []
    assert pump(emulator_url, reconciler_b, CONSUMER) == ["Certificate Validation"]
    assert len(validation_records(consumer, team_zone, alias)) == 1, "B's proof, in B's own zone"
    scheduled(reconciler_a, PROVIDER)  # ACM issued it: served, and said ready
    assert pump(emulator_url, reconciler_b, CONSUMER) == ["Certificate Ready"]
    [body] = finish(cfn_b, asking_fn, e)
    answer_ok(body, asking_fn)
    [cert] = certificates_for(provider, alias)
    assert served(provider, tls_listener(auto_service)) == [cert]
    flow_s = time.monotonic() - started
    a_calls, b_calls = calls_of(provider_proxy, a0), calls_of(proxy, b0)
    figures = {"flow_s": round(flow_s, 1), "provider_calls": a_calls, "consumer_calls": b_calls}
    record_property("certificate flow", figures)
    print(f"certificate flow: {flow_s:.1f} s; provider A {a_calls[0]} AWS calls "
          f"({a_calls[1]} mutating), consumer B {b_calls[0]} ({b_calls[1]} mutating)")

    # B deletes the link: A takes the certificate off the listener and deletes it; B's proof goes.
    delete = delete_of(cfn_b, asking_fn, e, body)
    deliver(asking_fn, delete)
    assert pump(emulator_url, reconciler_a, PROVIDER) == ["Certificate Released"]
    answer_ok(finish(cfn_b, asking_fn, delete)[0], asking_fn)
    assert certificates_for(provider, alias) == []
    assert served(provider, tls_listener(auto_service)) == []
    assert validation_records(consumer, team_zone, alias) == []


def test_a_lost_answer_is_made_good_by_the_schedule(
        emulator_url, provider, consumer, publish, auto_service, cfn_b, asking_fn, reconciler_a,
        reconciler_b, team_zone):
    pub = publish(auto_service, "lost", CertificateRequests=[f"{CONSUMER}:{TEAM}"])
    alias = f"lost-{uuid.uuid4().hex[:6]}.{TEAM}"
    e = asking(cfn_b, asking_fn, pub, consumer, team_zone, alias)
    deliver(asking_fn, e)
    assert pump(emulator_url, reconciler_a, PROVIDER) == ["Certificate Requested"]
    assert pump(emulator_url, reconciler_b, CONSUMER, drop=True) == ["Certificate Validation"]
    # B's backstop pass asks again for the link that still waits; A answers where it stands.
    scheduled(reconciler_b, CONSUMER)
    assert pump(emulator_url, reconciler_a, PROVIDER) == ["Certificate Requested"]
    assert pump(emulator_url, reconciler_b, CONSUMER) == ["Certificate Validation"]
    scheduled(reconciler_a, PROVIDER)
    assert pump(emulator_url, reconciler_b, CONSUMER) == ["Certificate Ready"]
    [body] = finish(cfn_b, asking_fn, e)
    answer_ok(body, asking_fn)
    delete = delete_of(cfn_b, asking_fn, e, body)
    deliver(asking_fn, delete)
    pump(emulator_url, reconciler_a, PROVIDER)
    answer_ok(finish(cfn_b, asking_fn, delete)[0], asking_fn)
    assert certificates_for(provider, alias) == []


@pytest.fixture
def no_certificates_left(emulator_url):
    """A's ACM quota reached for the test's length."""
    allow_more_certificates(emulator_url, PROVIDER, 0)
    yield
    set_quotas(emulator_url, PROVIDER, acm_certificates=None)


@pytest.mark.parametrize("grant, quota_reached, says", [
    (f"{OUTSIDER}:{TEAM}", False, "may not ask"),
    (f"{CONSUMER}:team-c.example.com", False, "not under"),
    (f"{CONSUMER}:{TEAM}", True, "quota"),
])
def test_a_refused_request_fails_the_link_with_its_reason_and_leaves_nothing(
        emulator_url, provider, consumer, publish, auto_service, cfn_b, asking_fn, reconciler_a,
        reconciler_b, team_zone, grant, quota_reached, says, request):
    pub = publish(auto_service, "refused", CertificateRequests=[grant])
    alias = f"refused-{uuid.uuid4().hex[:6]}.{TEAM}"
    e = asking(cfn_b, asking_fn, pub, consumer, team_zone, alias)
    deliver(asking_fn, e)
    if quota_reached:
        request.getfixturevalue("no_certificates_left")
    assert pump(emulator_url, reconciler_a, PROVIDER) == ["Certificate Requested"]
    assert pump(emulator_url, reconciler_b, CONSUMER) == ["Certificate Refused"]
    [body] = finish(cfn_b, asking_fn, e)
    assert body["Status"] == "FAILED" and says in body["Reason"], body
    assert len(body["Reason"]) < 256
    assert certificates_for(provider, alias) == [], "nothing left with A"
    # CloudFormation's rollback: the Delete leaves nothing with B either.
    delete = delete_of(cfn_b, asking_fn, e, body)
    deliver(asking_fn, delete)
    pump(emulator_url, reconciler_a, PROVIDER)
    answer_ok(finish(cfn_b, asking_fn, delete)[0], asking_fn)
    assert validation_records(consumer, team_zone, alias) == []


def test_deleting_the_publication_releases_its_consumers_certificates(
        emulator_url, provider, consumer, publish, publisher, auto_service, cfn_a, cfn_b,
        asking_fn, reconciler_a, reconciler_b, team_zone):
    pub = publish(auto_service, "gone", CertificateRequests=[f"{CONSUMER}:{TEAM}"])
    alias = f"gone-{uuid.uuid4().hex[:6]}.{TEAM}"
    e = asking(cfn_b, asking_fn, pub, consumer, team_zone, alias)
    deliver(asking_fn, e)
    pump(emulator_url, reconciler_a, PROVIDER)
    pump(emulator_url, reconciler_b, CONSUMER)
    scheduled(reconciler_a, PROVIDER)
    pump(emulator_url, reconciler_b, CONSUMER)
    [body] = finish(cfn_b, asking_fn, e)
    answer_ok(body, asking_fn)
    assert certificates_for(provider, alias)
    gone = cfn_a.event(publisher, "Delete", PUBLICATION, "Publication",
                       {**pub.props, "OnDeleteWithConnections": "reject"}, physical_id=pub.pid)
    assert cfn_a.send(publisher, gone)["Status"] == "SUCCESS"
    assert certificates_for(provider, alias) == [], "released with the publication"
    assert served(provider, tls_listener(auto_service)) == []
    assert pump(emulator_url, reconciler_b, CONSUMER) == ["Certificate Refused"]
    endpoint_tags = json.dumps(consumer.client("ec2").describe_vpc_endpoints(
        Filters=[{"Name": "tag:privatelink-autowire:certificate", "Values": ["refused"]}]),
        default=str)
    assert "deleted the publication" in endpoint_tags
    # B's stack goes too: its link's Delete removes its proof.
    delete = delete_of(cfn_b, asking_fn, e, body)
    deliver(asking_fn, delete)
    pump(emulator_url, reconciler_a, PROVIDER)
    answer_ok(finish(cfn_b, asking_fn, delete)[0], asking_fn)
    assert validation_records(consumer, team_zone, alias) == []


@pytest.fixture
def full_listeners(emulator_url):
    """A's load balancers take no more certificates for the test's length."""
    set_quotas(emulator_url, PROVIDER, listener_certificates=0)
    yield
    set_quotas(emulator_url, PROVIDER, listener_certificates=None)


def test_a_full_listener_refuses_the_issued_certificate_and_deletes_it(
        emulator_url, provider, consumer, publish, auto_service, cfn_b, asking_fn, reconciler_a,
        reconciler_b, team_zone, full_listeners):
    pub = publish(auto_service, "full", CertificateRequests=[f"{CONSUMER}:{TEAM}"])
    alias = f"full-{uuid.uuid4().hex[:6]}.{TEAM}"
    e = asking(cfn_b, asking_fn, pub, consumer, team_zone, alias)
    deliver(asking_fn, e)
    pump(emulator_url, reconciler_a, PROVIDER)
    assert pump(emulator_url, reconciler_b, CONSUMER) == ["Certificate Validation"]
    scheduled(reconciler_a, PROVIDER)  # issued, but no listener takes it
    assert pump(emulator_url, reconciler_b, CONSUMER) == ["Certificate Refused"]
    [body] = finish(cfn_b, asking_fn, e)
    assert body["Status"] == "FAILED" and "most certificates" in body["Reason"], body
    assert certificates_for(provider, alias) == [], "the issued certificate was deleted"
    delete = delete_of(cfn_b, asking_fn, e, body)
    deliver(asking_fn, delete)
    pump(emulator_url, reconciler_a, PROVIDER)
    answer_ok(finish(cfn_b, asking_fn, delete)[0], asking_fn)
    assert validation_records(consumer, team_zone, alias) == []
