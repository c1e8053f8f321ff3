"""`Custom::ServicePublication` through the real provider binary: private DNS verification (a
wait longer than the function's Timeout, so it runs as continuations through the relay) and
safe deletion with connected consumers. AWS calls go through the fault proxy."""

from __future__ import annotations

import itertools
import json
import uuid

import pytest

from binary_support import bare_zone_id, log_messages, mutating, provider_harness, record_sets
from testbed_fixtures import (
    CONSUMER,
    PROVIDER,
    build_consumer_vpc,
    build_provider_network,
    build_public_zone,
    set_zone_delegated,
)

RESOURCE = "Custom::ServicePublication"
RUN = uuid.uuid4().hex[:6]  # names differ between runs, so a long-lived emulator can be reused
_n = itertools.count(1)
AZ_IDS = ["use1-az1", "use1-az4"]


def unique(label: str) -> str:
    return f"{label}-{RUN}-{next(_n)}"


def service_config(provider, service_id: str) -> dict:
    return provider.client("ec2").describe_vpc_endpoint_service_configurations(
        ServiceIds=[service_id])["ServiceConfigurations"][0]


def parameters_left(provider, name: str) -> list[str]:
    names = [name, f"{name}/policy"]
    missing = provider.client("ssm").get_parameters(Names=names)["InvalidParameters"]
    return [n for n in names if n not in missing]


SERVICE_TIMEOUT = "60"  # bounds a continuation chain that never settles: FAILED, not a hang


def publication_props(service, key: str, **more) -> dict:
    return {"ServiceId": service.service_id, "ServiceKey": key,
            "ServiceTimeout": SERVICE_TIMEOUT, **more}


@pytest.fixture
def dns_service(provider):
    """A fresh endpoint service and a public zone for a fresh domain, both in the provider."""
    domain = f"{unique('pdns')}.example.com"
    zone = build_public_zone(provider, domain)
    service = build_provider_network(provider, AZ_IDS, listeners=[("TLS", 443)])
    return service, domain, bare_zone_id(zone)


# ---------------------------------------------------------------- A: private DNS, verified


def test_private_dns_is_verified_published_and_removed_by_a_retried_delete(
        relay_provider, cfn, provider, proxy, dns_service):
    service, domain, zone = dns_service
    name = f"orders.{domain}"
    props = publication_props(service, unique("pdns-ok"), PrivateDnsName=name,
                              PublicHostedZoneId=zone)
    calls_before = len(relay_provider.relay_calls())
    body = cfn.send(relay_provider, cfn.event(relay_provider, "Create", RESOURCE, "Publication",
                                              props))
    assert body["Status"] == "SUCCESS", body
    assert body["Data"]["PrivateDnsState"] == "verified"
    pid, param = body["PhysicalResourceId"], body["Data"]["ParameterName"]

    # The wait (a 10 s poll) could not fit in the short invocation: it was continued through
    # lambda:Invoke, asynchronously, to the function's own ARN.
    relayed = relay_provider.relay_calls()[calls_before:]
    assert relayed, "the wait was handed to a continuation"
    assert {c.invocation_type for c in relayed} == {"Event"}
    assert {c.status for c in relayed} == {202}
    assert {c.function_name for c in relayed} == {relay_provider.function_arn}

    config = service_config(provider, service.service_id)
    assert config["PrivateDnsName"] == name
    challenge = config["PrivateDnsNameConfiguration"]
    assert challenge["State"] == "verified"
    txt = record_sets(provider, zone, "TXT")
    assert txt == {f"{challenge['Name']}.{name}": [f'"{challenge["Value"]}"']}, txt

    stored = provider.client("ssm").get_parameter(Name=param)["Parameter"]
    descriptor = json.loads(stored["Value"])
    assert descriptor["private_dns"] == {"name": name, "state": "verified"}
    assert descriptor["digest"] == body["Data"]["Digest"]

    # Delete: the verification record and the name go first; then SSM refuses to delete the
    # descriptor (a non-retryable error), so the Delete fails half done.
    proxy.add_fault(["DeleteParameter"], first=1, code="AccessDeniedException", status=400,
                    message=f"User: arn:aws:sts::{PROVIDER}:assumed-role/provider/x is not "
                            "authorized to perform: ssm:DeleteParameter")
    try:
        failed = cfn.send(relay_provider, cfn.event(relay_provider, "Delete", RESOURCE,
                                                    "Publication", props, physical_id=pid))
    finally:
        proxy.clear_faults()
    assert failed["Status"] == "FAILED", failed
    assert failed["Reason"].startswith("ssm:DeleteParameter failed: AccessDeniedException"), failed
    assert failed["PhysicalResourceId"] == pid
    assert record_sets(provider, zone, "TXT") == {}, "partly done: the record is gone"
    assert "PrivateDnsName" not in service_config(provider, service.service_id)
    assert parameters_left(provider, param) == [param, f"{param}/policy"]

    # CloudFormation's next Delete of the resource finishes the job.
    again = cfn.send(relay_provider, cfn.event(relay_provider, "Delete", RESOURCE,
                                               "Publication", props, physical_id=pid))
    assert again["Status"] == "SUCCESS", again
    assert parameters_left(provider, param) == []
    assert record_sets(provider, zone, "TXT") == {}
    assert "PrivateDnsName" not in service_config(provider, service.service_id)

    proxy.reset_calls()
    third = cfn.send(relay_provider, cfn.event(relay_provider, "Delete", RESOURCE,
                                               "Publication", props, physical_id=pid))
    assert third["Status"] == "SUCCESS" and mutating(proxy) == []


# ---------------------------------------------------------------- B: verification fails


def test_failed_verification_answers_what_to_check_and_leaves_nothing_behind(
        relay_provider, cfn, provider, proxy, dns_service):
    service, domain, zone = dns_service
    set_zone_delegated(provider, zone, False)  # public DNS never reaches the zone
    name = f"api.{domain}"
    key = unique("pdns-bad")
    proxy.reset_calls()
    e = cfn.event(relay_provider, "Create", RESOURCE, "Publication",
                  publication_props(service, key, PrivateDnsName=name, PublicHostedZoneId=zone))
    body = cfn.send(relay_provider, e)
    assert body["Status"] == "FAILED", body
    reason = body["Reason"]
    assert f"private DNS name {name} failed verification" in reason, reason
    assert "resolves in public DNS" in reason and zone in reason and "delegated" in reason, reason
    assert body["PhysicalResourceId"].startswith("autowire-create-failed:")

    # It did try: the record was written and verification started, then all of it undone.
    actions = [c["action"] for c in proxy.calls()]
    assert "StartVpcEndpointServicePrivateDnsVerification" in actions
    assert actions.count("ChangeResourceRecordSets") == 2, actions  # written, then removed
    assert record_sets(provider, zone, "TXT") == {}
    config = service_config(provider, service.service_id)
    assert "PrivateDnsName" not in config, config
    assert "PrivateDnsNameConfiguration" not in config, config
    assert parameters_left(provider, f"/privatelink-autowire/services/{key}") == []
    assert not [a for a in mutating(proxy) if a in ("PutParameter", "AddTagsToResource")]


# ---------------------------------------------------------------- C: safe deletion


def connect_consumer(provider, consumer, service, accept: bool = True) -> str:
    """A consumer endpoint to `service` (accepted by the provider, or left pending); its ID."""
    vpc_id, subnets = build_consumer_vpc(consumer, AZ_IDS)
    endpoint = consumer.client("ec2").create_vpc_endpoint(
        VpcEndpointType="Interface", VpcId=vpc_id, ServiceName=service.service_name,
        SubnetIds=list(subnets.values()),
    )["VpcEndpoint"]
    assert endpoint["State"] == "pendingAcceptance"
    if accept:
        provider.client("ec2").accept_vpc_endpoint_connections(
            ServiceId=service.service_id, VpcEndpointIds=[endpoint["VpcEndpointId"]])
    return endpoint["VpcEndpointId"]


def connection_states(provider, service_id: str) -> dict[str, str]:
    conns = provider.client("ec2").describe_vpc_endpoint_connections(
        Filters=[{"Name": "service-id", "Values": [service_id]}])["VpcEndpointConnections"]
    return {c["VpcEndpointId"]: c["VpcEndpointState"] for c in conns}


def test_delete_with_connections_fails_naming_them_then_reject_deletes(
        relay_provider, cfn, provider, consumer, proxy):
    service = build_provider_network(provider, AZ_IDS, listeners=[("TCP", 443)],
                                     acceptance_required=True, allowed_accounts=[CONSUMER])
    endpoint_id = connect_consumer(provider, consumer, service)
    pending_id = connect_consumer(provider, consumer, service, accept=False)  # live too
    live = {endpoint_id: "available", pending_id: "pendingAcceptance"}
    key = unique("connected")
    props = publication_props(service, key, AllowedAccounts=[CONSUMER])
    created = cfn.send(relay_provider, cfn.event(relay_provider, "Create", RESOURCE,
                                                 "Publication", props))
    assert created["Status"] == "SUCCESS", created
    pid, name = created["PhysicalResourceId"], created["Data"]["ParameterName"]

    for refusing in (props, {**props, "OnDeleteWithConnections": "fail"}):
        proxy.reset_calls()
        body = cfn.send(relay_provider, cfn.event(relay_provider, "Delete", RESOURCE,
                                                  "Publication", refusing, physical_id=pid))
        assert body["Status"] == "FAILED", body
        reason = body["Reason"]
        assert reason.startswith(f"2 consumer endpoint(s) still connected to {service.service_id}")
        for eid in live:
            assert f"{CONSUMER} ({eid})" in reason, reason
        assert "OnDeleteWithConnections" in reason, reason
        assert body["PhysicalResourceId"] == pid
        assert proxy.calls(), "it looked"
        assert mutating(proxy) == [], "a refused Delete changes nothing"
        assert parameters_left(provider, name) == [name, f"{name}/policy"]
        assert connection_states(provider, service.service_id) == live

    proxy.reset_calls()
    body = cfn.send(relay_provider, cfn.event(
        relay_provider, "Delete", RESOURCE, "Publication",
        {**props, "OnDeleteWithConnections": "reject"}, physical_id=pid))
    assert body["Status"] == "SUCCESS", body
    assert connection_states(provider, service.service_id) == {
        endpoint_id: "rejected", pending_id: "rejected"}
    assert parameters_left(provider, name) == []
    assert mutating(proxy) == ["RejectVpcEndpointConnections", "DeleteParameter",
                               "DeleteParameter"]


# ---------------------------------------------------------------- F: Route 53 still busy


def test_route53_prior_request_not_complete_is_waited_out(cfn, provider, proxy, dns_service,
                                                         account):
    # More PriorRequestNotComplete answers than the SDK's 5 attempts: the step itself must
    # wait and retry. The invocation needs room for the SDK's backoff (up to 1+2+4+8 s).
    service, domain, zone = dns_service
    name = f"busy.{domain}"
    props = publication_props(service, unique("busy"), PrivateDnsName=name,
                              PublicHostedZoneId=zone)
    proxy.reset_calls()
    proxy.add_fault(["ChangeResourceRecordSets"], first=6, code="PriorRequestNotComplete",
                    status=400, message="The request was rejected because Route 53 was still "
                                        "processing a prior request.")
    try:
        with provider_harness(account(PROVIDER), proxy, 22) as fn:
            body = cfn.send(fn, cfn.event(fn, "Create", RESOURCE, "Publication", props),
                            timeout=120)
            logs = log_messages(fn)
    finally:
        proxy.clear_faults()
    assert body["Status"] == "SUCCESS", body
    assert body["Data"]["PrivateDnsState"] == "verified"
    assert proxy.count("ChangeResourceRecordSets", throttled=True) == 6
    assert proxy.count("ChangeResourceRecordSets", throttled=False) == 1
    waits = [m for m in logs if m.get("message") == "waiting"
             and "Route 53 to finish a prior change" in str(m.get("waiting_for"))]
    assert waits, logs[-10:]
    assert len(record_sets(provider, zone, "TXT")) == 1
