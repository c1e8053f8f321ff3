"""The reconciler through the real binary, in two accounts: the provider A (111111111111) and the
consumer B (222222222222).

A's publications are published by the real provider binary, B's links built by the real consumer
binary. A's descriptor changes travel as the emulator makes AWS's `Parameter Store Change` events:
A's default bus → the forwarding rule the provider template defines → B's bus (its policy admits
A) → B's rule → the outbox of B's reconciler, which the test hands to the binary, as Lambda would.
A's connection notifications travel from EC2 through A's SNS topic to A's reconciler the same way.
Every AWS call of B's reconciler goes through the fault proxy, which counts (and throttles) them.
"""

from __future__ import annotations

import json
import threading
import time

import pytest

from binary_support import harness, log_messages, mutating, provider_harness
from eventbed import PARAMETER_CHANGE, consumer_bus, forward_rule, unique, vpce_topic
from outbox import take_events, wait_for_events
from test_link_binary import (  # noqa: F401  fixtures and helpers of the link's own tests
    CANDIDATE_AZ_IDS,
    LINK,
    auto_service,
    b_calls,
    b_key,
    b_mutating,
    candidates,
    cfn_a,
    cnames,
    cfn_b,
    endpoints_in,
    finish,
    ingress,
    link_fn,
    link_id,
    link_props,
    norm,
    owned_groups,
    provider_proxy,
    publish,
    publisher,
    tags,
    vpc_cidr,
    zones_of,
)
from testbed_fixtures import (
    CONSUMER,
    OUTSIDER,
    PROVIDER,
    REGION,
    build_consumer_vpc,
    build_provider_network,
    build_public_zone,
    subnet_for_az_id,
)

PREFIX = "/privatelink-autowire/services"
SERVICE_STATE_TAG = "privatelink-autowire:service-state"
RECONCILER_TIMEOUT_S = 120


def reconciler_arn(account: str) -> str:
    return f"arn:aws:lambda:{REGION}:{account}:function:reconciler"


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def probe_rule(consumer):
    """B's probe schedule: a rule whose one target (the probe) has a constant input."""
    events = consumer.client("events")
    name = unique("probe")
    events.put_rule(Name=name, ScheduleExpression="rate(5 minutes)", State="ENABLED")
    events.put_targets(Rule=name, Targets=[{
        "Id": "Probe", "Arn": f"arn:aws:lambda:{REGION}:{CONSUMER}:function:probe",
        "Input": "{}", "RetryPolicy": {"MaximumEventAgeInSeconds": 60, "MaximumRetryAttempts": 2}}])
    return name


HAND_WRITTEN = {"targets": [{"host": "hand.example.com", "port": 443}], "timeout_ms": 5000}


@pytest.fixture(scope="module")
def reconciler_b(consumer, proxy, probe_rule):
    env = {"PROBE_SCHEDULE_RULE": probe_rule, "PROBE_TARGETS_JSON": json.dumps(HAND_WRITTEN)}
    with harness("reconciler", consumer, proxy, RECONCILER_TIMEOUT_S, env) as h:
        yield h


@pytest.fixture(scope="module")
def wired(provider, consumer):
    """A's descriptor changes forwarded to B's bus (its policy admits A), and B's rule sending
    them to B's reconciler."""
    bus_arn = consumer_bus(consumer, allow_account=PROVIDER)
    bus = bus_arn.rsplit("/", 1)[-1]
    events = consumer.client("events")
    rule = unique("descriptor-changes")
    events.put_rule(Name=rule, EventBusName=bus, EventPattern=json.dumps(PARAMETER_CHANGE))
    events.put_targets(Rule=rule, EventBusName=bus,
                       Targets=[{"Id": "Reconciler", "Arn": reconciler_arn(CONSUMER)}])
    forward_rule(provider, PREFIX, bus_arn)
    return bus_arn


# ---------------------------------------------------------------- helpers


def changes_of(emulator_url: str, pub, count: int = 1) -> list[dict]:
    """The forwarded changes of `pub`'s descriptor waiting for B's reconciler (others dropped)."""
    name = pub.arn.split(":parameter", 1)[1]
    got: list[dict] = []
    deadline = time.monotonic() + 15
    while len(got) < count and time.monotonic() < deadline:
        got += [e for e in take_events(emulator_url, reconciler_arn(CONSUMER))
                if e["detail"]["name"] == name]
        time.sleep(0.05)
    assert len(got) >= count, f"{len(got)} of {count} change events for {name}"
    return got


def run(fn, event: dict) -> dict:
    """One delivery to the reconciler; its answer."""
    inv = fn.invoke_detailed(event)
    assert inv.ok and not inv.timed_out, f"{inv.error}\n{tail(fn)}"
    return inv.result


def tail(fn, n: int = 30) -> str:
    return "\n".join(json.dumps(m) for m in log_messages(fn)[-n:])


def scheduled() -> dict:
    with open("events/reconciler-scheduled.json") as f:
        return json.load(f)


def linked(link_fn, cfn_b, consumer, pub, logical_id="OrdersLink", **more):
    """A link in a new VPC of B, created by the consumer binary → (vpc, subnets, answer)."""
    vpc_id, subnets = build_consumer_vpc(consumer, CANDIDATE_AZ_IDS)
    e = cfn_b.event(link_fn, "Create", LINK, logical_id,
                    link_props(pub, vpc_id, candidates(subnets), **more))
    link_fn.invoke_detailed(e)
    [body] = finish(cfn_b, link_fn, e)
    assert body["Status"] == "SUCCESS", body
    return vpc_id, subnets, body


def add_provider_az(provider, service, az_id: str) -> None:
    """A's NLB (and so its service) gains a subnet in `az_id`."""
    ec2, elbv2 = provider.client("ec2"), provider.client("elbv2")
    cidr = ec2.describe_vpcs(VpcIds=[service.vpc_id])["Vpcs"][0]["CidrBlock"]
    subnet = subnet_for_az_id(ec2, service.vpc_id, az_id, cidr.replace(".0.0/16", ".200.0/24"))
    elbv2.set_subnets(LoadBalancerArn=service.nlb_arn,
                      Subnets=[*service.subnet_ids.values(), subnet])
    service.subnet_ids[az_id] = subnet


@pytest.fixture
def link_then_change(link_fn, cfn_b, publish, auto_service, consumer, emulator_url, wired):
    """`link_then_change(label, before=None, **changes)`: B links to a new publication of A's
    service; `before()` runs; A republishes with `changes` → (pub, vpc, subnets, the link's
    answer, the change event forwarded to B's reconciler)."""

    def make(label: str, before=None, **changes):
        pub = publish(auto_service, label)
        vpc_id, subnets, body = linked(link_fn, cfn_b, consumer, pub)
        take_events(emulator_url, reconciler_arn(CONSUMER))
        if before:
            before()
        pub = publish.republish(pub, **changes)
        [change] = changes_of(emulator_url, pub)
        return pub, vpc_id, subnets, body, change

    return make


# ---------------------------------------------------------------- consumer side


def test_an_az_and_a_port_added_by_the_provider_reach_the_link_with_no_stack_update(
        reconciler_b, link_then_change, auto_service, provider, consumer, proxy, b_key):
    pub, vpc_id, subnets, body, change = link_then_change(
        "follow", before=lambda: add_provider_az(provider, auto_service, "use1-az2"),
        Ports=["443/TLS", "8443/TLS"])
    assert pub.descriptor["az_ids"] == ["use1-az1", "use1-az2", "use1-az4"]
    assert (change["source"], change["account"]) == ("aws.ssm", PROVIDER)

    proxy.reset_calls()
    answer = run(reconciler_b, change)
    assert answer["consumer"]["converged"] == 1, f"{answer}\n{tail(reconciler_b)}"
    [ep] = endpoints_in(consumer, vpc_id)
    assert ep["VpcEndpointId"] == body["Data"]["EndpointId"], "changed in place"
    assert sorted(ep["SubnetIds"]) == sorted(candidates(subnets)), "subnets follow az_ids"
    assert tags(ep)["privatelink-autowire:digest"] == pub.descriptor["digest"]
    [group] = owned_groups(consumer, body["PhysicalResourceId"])
    cidr = vpc_cidr(consumer, vpc_id)
    assert ingress(group) == [("tcp", 443, 443, cidr), ("tcp", 8443, 8443, cidr)]
    assert "ModifyVpcEndpoint" in b_mutating(proxy, b_key)

    proxy.reset_calls()
    again = run(reconciler_b, change)
    assert again["consumer"]["converged"] == 1
    assert b_mutating(proxy, b_key) == [], "the same change again changes nothing"


def test_an_az_the_provider_stops_serving_leaves_the_endpoint_in_place(
        reconciler_b, link_fn, cfn_b, publish, provider, consumer, emulator_url, wired):
    service = build_provider_network(provider, CANDIDATE_AZ_IDS, listeners=[("TLS", 443)],
                                     allowed_accounts=[CONSUMER])
    pub = publish(service, "shrink")
    vpc_id, subnets, body = linked(link_fn, cfn_b, consumer, pub)
    take_events(emulator_url, reconciler_arn(CONSUMER))
    served = ["use1-az1", "use1-az4"]
    provider.client("elbv2").set_subnets(LoadBalancerArn=service.nlb_arn,
                                         Subnets=[service.subnet_ids[a] for a in served])
    pub = publish.republish(pub)
    assert pub.descriptor["az_ids"] == served
    [change] = changes_of(emulator_url, pub)
    answer = run(reconciler_b, change)
    assert answer["consumer"]["converged"] == 1, f"{answer}\n{tail(reconciler_b)}"
    [ep] = endpoints_in(consumer, vpc_id)
    assert ep["VpcEndpointId"] == body["Data"]["EndpointId"], "changed in place"
    assert sorted(ep["SubnetIds"]) == sorted(subnets[a] for a in served)


def test_a_deleted_descriptor_keeps_the_link_and_marks_it_gone(
        reconciler_b, link_fn, cfn_b, publish, auto_service, provider, consumer, emulator_url,
        wired):
    pub = publish(auto_service, "gone")
    vpc_id, _, body = linked(link_fn, cfn_b, consumer, pub)
    take_events(emulator_url, reconciler_arn(CONSUMER))
    # The provider removes the descriptor (its publication's Delete refuses while B is connected).
    provider.client("ssm").delete_parameter(Name=pub.arn.split(":parameter", 1)[1])
    [delete] = [e for e in changes_of(emulator_url, pub) if e["detail"]["operation"] == "Delete"]
    answer = run(reconciler_b, delete)
    assert answer["consumer"]["gone"] == 1, answer
    [ep] = endpoints_in(consumer, vpc_id)
    assert ep["VpcEndpointId"] == body["Data"]["EndpointId"] and ep["State"] == "available"
    assert tags(ep)[SERVICE_STATE_TAG] == "gone"
    assert any("ServiceGone" in json.dumps(m) for m in log_messages(reconciler_b))


def test_private_dns_auto_turns_on_once_the_provider_verifies_its_name(
        reconciler_b, link_then_change, provider, consumer):
    domain = f"{unique('pdns')}.example.com"
    zone = build_public_zone(provider, domain).rsplit("/", 1)[-1]
    pub, vpc_id, _, body, change = link_then_change(
        "pdns", PrivateDnsName=f"orders.{domain}", PublicHostedZoneId=zone)
    assert pub.descriptor["private_dns"] == {"name": f"orders.{domain}", "state": "verified"}
    [before] = endpoints_in(consumer, vpc_id)
    assert before["PrivateDnsEnabled"] is False, "auto: no verified name when the link was made"
    answer = run(reconciler_b, change)
    assert answer["consumer"]["converged"] == 1, f"{answer}\n{tail(reconciler_b)}"
    [after] = endpoints_in(consumer, vpc_id)
    assert after["VpcEndpointId"] == body["Data"]["EndpointId"]
    assert after["PrivateDnsEnabled"] is True


def test_tls_names_that_no_longer_cover_the_alias_are_counted_and_nothing_is_torn_down(
        reconciler_b, link_then_change, consumer):
    pub, vpc_id, _, body, change = link_then_change(
        "tls", TlsNames=["elsewhere.example.com"], Ports=["443/TLS", "7443/TLS"])
    answer = run(reconciler_b, change)
    assert answer["consumer"]["tls_mismatches"] == [body["PhysicalResourceId"]], answer
    assert answer["consumer"]["converged"] == 1, "the port change still applies"
    [ep] = endpoints_in(consumer, vpc_id)
    assert ep["VpcEndpointId"] == body["Data"]["EndpointId"] and ep["State"] == "available"
    [group] = owned_groups(consumer, body["PhysicalResourceId"])
    assert {p for _, p, _, _ in ingress(group)} == {443, 7443}
    emf = [line for line in reconciler_b.stdout_lines() if "TlsMismatch" in line]
    assert emf, tail(reconciler_b)


def test_the_schedule_writes_the_probe_targets_once_and_a_quiet_pass_changes_nothing(
        reconciler_b, link_fn, cfn_b, publish, auto_service, consumer, proxy, b_key, probe_rule):
    pub = publish(auto_service, "schedule")
    linked(link_fn, cfn_b, consumer, pub)
    first = run(reconciler_b, scheduled())
    assert first["probe_schedule"] in ("written", "unchanged"), first
    [target] = consumer.client("events").list_targets_by_rule(Rule=probe_rule)["Targets"]
    written = json.loads(target["Input"])
    hosts = [t["host"] for t in written["targets"]]
    assert hosts[0] == "hand.example.com" and written["timeout_ms"] == 5000, written
    assert f"api.{pub.domain}" in hosts and any(h.endswith(".vpce.amazonaws.com") for h in hosts)
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 2, "the rest of the target is kept"

    proxy.reset_calls()
    again = run(reconciler_b, scheduled())
    assert again["probe_schedule"] == "unchanged", again
    assert b_mutating(proxy, b_key) == [], "a pass with no change makes no mutating call"
    describes = [c["action"] for c in b_calls(proxy, b_key) if c["service"] == "ec2"]
    print(f"\nscheduled pass over {again['consumer']['links']} links: EC2 calls {describes}")


def test_a_pass_with_no_time_left_starts_no_link(consumer, proxy, b_key, link_fn, cfn_b,
                                                 publish, auto_service):
    pub = publish(auto_service, "deadline")
    linked(link_fn, cfn_b, consumer, pub)
    with harness("reconciler", consumer, proxy, 10) as short:
        proxy.reset_calls()
        answer = run(short, scheduled())
    assert answer["consumer"]["deferred"] == answer["consumer"]["links"] > 0, answer
    assert b_mutating(proxy, b_key) == []


def test_events_that_are_not_ours_or_malformed_change_nothing(reconciler_b, proxy, b_key):
    proxy.reset_calls()
    with open("events/reconciler-other-source.json") as f:
        assert "ignored" in run(reconciler_b, json.load(f))
    with open("events/reconciler-malformed.json") as f:
        inv = reconciler_b.invoke_detailed(json.load(f))
    assert not inv.ok and "Parameter Store Change" in json.dumps(inv.result), inv.result
    assert b_calls(proxy, b_key) == []


def test_an_unreadable_descriptor_leaves_the_link_alone_and_is_counted(
        reconciler_b, link_fn, cfn_b, publish, auto_service, provider, consumer, proxy, b_key):
    pub = publish(auto_service, "unshared")
    linked(link_fn, cfn_b, consumer, pub)
    ram = provider.client("ram")
    for share in ram.get_resource_shares(resourceOwner="SELF")["resourceShares"]:
        if share["name"] == f"autowire-{pub.props['ServiceKey']}":
            ram.delete_resource_share(resourceShareArn=share["resourceShareArn"])
    proxy.reset_calls()
    answer = run(reconciler_b, scheduled())
    unreadable = [d for d, _ in answer["consumer"]["unreadable_descriptors"]]
    assert pub.arn in unreadable, answer
    ec2 = [c["action"] for c in b_calls(proxy, b_key) if c["service"] == "ec2"]
    assert [a for a in ec2 if not a.startswith("Describe")] == [], "the links stay as they are"
    emf = [line for line in reconciler_b.stdout_lines() if "DescriptorUnreadable" in line]
    assert emf, tail(reconciler_b)


def test_a_stack_update_and_a_reconcile_at_once_make_one_endpoint(
        reconciler_b, link_then_change, link_fn, cfn_b, provider, consumer):
    moved = build_provider_network(provider, ["use1-az1", "use1-az4"], listeners=[("TLS", 443)],
                                   allowed_accounts=[CONSUMER])
    pub, vpc_id, subnets, body, change = link_then_change("race", ServiceId=moved.service_id)
    props = link_props(pub, vpc_id, candidates(subnets))
    update = cfn_b.event(link_fn, "Update", LINK, "OrdersLink", props,
                         physical_id=body["PhysicalResourceId"], old=props)
    answers: dict = {}
    both = [threading.Thread(target=lambda: answers.update(r=run(reconciler_b, change))),
            threading.Thread(target=lambda: link_fn.invoke_detailed(update))]
    for t in both:
        t.start()
    for t in both:
        t.join()
    [answer] = finish(cfn_b, link_fn, update)
    assert answer["Status"] == "SUCCESS", answer
    standing = [e for e in endpoints_in(consumer, vpc_id) if e["State"] != "deleting"]
    assert [e["ServiceName"] for e in standing] == [moved.service_name], standing
    assert answer["Data"]["EndpointId"] == standing[0]["VpcEndpointId"]
    zone = zones_of(consumer, vpc_id)[pub.domain]
    regional = standing[0]["DnsEntries"][0]["DnsName"]
    assert cnames(consumer, zone) == {f"api.{pub.domain}": [norm(regional)]}, "the alias moved"


def test_a_pass_with_half_of_b_s_ec2_calls_throttled_converges(
        reconciler_b, link_then_change, consumer, proxy, b_key):
    pub, vpc_id, subnets, body, change = link_then_change("throttled", Ports=["443/TLS", "9443/TLS"])
    proxy.reset_calls()
    rule = proxy.add_fault(["*"], rate=0.5, seed=11, services=["ec2"], access_key_ids=[b_key])
    try:
        passes = 0
        while passes < 5:
            passes += 1
            answer = run(reconciler_b, change if passes == 1 else scheduled())
            if answer["consumer"]["converged"] == answer["consumer"]["links"]:
                break
    finally:
        [stats] = [r for r in proxy.faults() if r["id"] == rule["id"]]
        proxy.clear_faults()
    print(f"\nthrottled: {stats['injected']} of {stats['matched']} EC2 calls, {passes} pass(es)")
    assert stats["injected"] > 0
    [group] = owned_groups(consumer, body["PhysicalResourceId"])
    assert {p for _, p, _, _ in ingress(group)} == {443, 9443}
    assert len(endpoints_in(consumer, vpc_id)) == 1


# ---------------------------------------------------------------- provider side


@pytest.fixture(scope="module")
def connection_topic(provider):
    """A's topic for connection notifications, subscribed by A's reconciler."""
    topic, _ = vpce_topic(provider, function=reconciler_arn(PROVIDER))
    return topic


@pytest.fixture(scope="module")
def notifying_publisher(provider, provider_proxy, connection_topic):
    env = {"CONNECTION_NOTIFICATION_TOPIC_ARN": connection_topic}
    with provider_harness(provider, provider_proxy, 30, env) as h:
        yield h


@pytest.fixture(scope="module")
def reconciler_a(provider, provider_proxy):
    with harness("reconciler", provider, provider_proxy, RECONCILER_TIMEOUT_S) as h:
        yield h


def endpoint_from(session, service) -> str:
    vpc_id, subnets = build_consumer_vpc(session, ["use1-az1"])
    return session.client("ec2").create_vpc_endpoint(
        VpcEndpointType="Interface", VpcId=vpc_id, ServiceName=service.service_name,
        SubnetIds=[subnets["use1-az1"]])["VpcEndpoint"]["VpcEndpointId"]


def connection_state(provider, service, endpoint_id: str) -> str:
    [c] = provider.client("ec2").describe_vpc_endpoint_connections(Filters=[
        {"Name": "service-id", "Values": [service.service_id]},
        {"Name": "vpc-endpoint-id", "Values": [endpoint_id]}])["VpcEndpointConnections"]
    return c["VpcEndpointState"]


def decisions(fn) -> list[dict]:
    return [m for m in log_messages(fn) if m["message"] == "acceptance decision"]


def test_connect_notifications_accept_listed_and_reject_unlisted_accounts_by_policy(
        notifying_publisher, reconciler_a, cfn_a, provider, consumer, outsider, emulator_url,
        provider_proxy):
    service = build_provider_network(provider, ["use1-az1"], listeners=[("TLS", 443)],
                                     acceptance_required=True)
    key = unique("policy")
    props = {"ServiceId": service.service_id, "ServiceKey": key, "AllowedAccounts": [CONSUMER],
             "RejectUnlisted": "true"}
    body = cfn_a.send(notifying_publisher, cfn_a.event(
        notifying_publisher, "Create", "Custom::ServicePublication", "Publication", props))
    assert body["Status"] == "SUCCESS", body
    ec2 = provider.client("ec2")
    [note] = ec2.describe_vpc_endpoint_connection_notifications(Filters=[
        {"Name": "service-id", "Values": [service.service_id]}])["ConnectionNotificationSet"]
    assert note["ConnectionEvents"] == ["Connect"]
    principals = ec2.describe_vpc_endpoint_service_permissions(
        ServiceId=service.service_id)["AllowedPrincipals"]
    assert [p["Principal"] for p in principals] == [f"arn:aws:iam::{CONSUMER}:root"]

    take_events(emulator_url, reconciler_arn(PROVIDER))
    listed = endpoint_from(consumer, service)
    started = time.monotonic()
    [connect] = wait_for_events(emulator_url, reconciler_arn(PROVIDER))
    answer = run(reconciler_a, connect)
    took = time.monotonic() - started
    assert answer["provider"]["accepted"] == 1, f"{answer}\n{tail(reconciler_a)}"
    assert connection_state(provider, service, listed) == "available"
    print(f"\nConnect → accepted: {took:.2f} s")

    ec2.modify_vpc_endpoint_service_permissions(
        ServiceId=service.service_id, AddAllowedPrincipals=[f"arn:aws:iam::{OUTSIDER}:root"])
    unlisted = endpoint_from(outsider, service)
    [connect] = wait_for_events(emulator_url, reconciler_arn(PROVIDER))
    assert run(reconciler_a, connect)["provider"]["rejected"] == 1
    assert connection_state(provider, service, unlisted) == "rejected"
    lines = {(d["requester_account"], d["decision"], d["rule"]) for d in decisions(reconciler_a)
             if d["service_key"] == key}
    assert lines == {(CONSUMER, "accepted", "allowed-accounts"),
                     (OUTSIDER, "rejected", "reject-unlisted")}, lines
    emf = [json.loads(line) for line in reconciler_a.stdout_lines()
           if "AcceptanceDecisions" in line and key in line]
    assert sorted(e["Decision"] for e in emf) == ["accepted", "rejected"], emf

    provider_proxy.reset_calls()
    quiet = run(reconciler_a, scheduled())
    assert quiet["provider"]["pending"] == 0
    assert mutating(provider_proxy) == [], "nothing pending: no mutating call"

    def delete(**more) -> dict:
        return cfn_a.send(notifying_publisher, cfn_a.event(
            notifying_publisher, "Delete", "Custom::ServicePublication", "Publication",
            {**props, **more}, physical_id=body["PhysicalResourceId"]))

    def notifications() -> list:
        return ec2.describe_vpc_endpoint_connection_notifications(Filters=[
            {"Name": "service-id", "Values": [service.service_id]}])["ConnectionNotificationSet"]

    assert delete()["Status"] == "FAILED", "B is connected"
    assert notifications(), "a refused Delete removes nothing"
    assert delete(OnDeleteWithConnections="reject")["Status"] == "SUCCESS"
    assert notifications() == [], "Delete removes the notification"
    left = ec2.describe_vpc_endpoint_service_permissions(
        ServiceId=service.service_id)["AllowedPrincipals"]
    assert [p["Principal"] for p in left] == [f"arn:aws:iam::{OUTSIDER}:root"], \
        "Delete removes the principal it added, and only that"
