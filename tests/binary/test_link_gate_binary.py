"""The deploy gate through the real Lambda Invoke API: the real consumer binary (account B,
222222222222) links to a descriptor the real provider binary published in account A and shared
with B, with `VerifyReachability` and `ProbeFunctionArn`; once the endpoint is available and the
alias written, the link invokes the real probe binary (account B, function `probe`)
synchronously. Both functions run under the harness: the consumer's `AWS_ENDPOINT_URL_LAMBDA`
is its async invoke relay, which also serves the probe harness, so the relay delivers the
link's RequestResponse invoke to the probe (and its own continuations back to the link).

The service is a TLS server on 127.0.0.1 with a certificate from a test CA; the descriptor's
port is that server's port. The probe never resolves a name through DNS: its environment maps
the alias, its domain and `*.vpce.amazonaws.com` (the endpoint's regional and zonal names) to
127.0.0.1 (`AUTOWIRE_PROBE_HOSTS`) and turns DNS off (`AUTOWIRE_PROBE_SYSTEM_DNS=false`). The
link sends no CA bundle, so the probe trusts the test CA through `SSL_CERT_FILE`
(rustls-native-certs reads only that file when it is set).

Every link waits for A to accept its endpoint in a continuation (the consumer's Timeout is
shorter than the acceptance poll); the test accepts meanwhile, and the gate runs in the
continuation.
"""

from __future__ import annotations

import itertools
import json
import uuid
from dataclasses import dataclass

import pytest

from binary_support import (
    CloudFormation,
    bare_zone_id,
    bootstrap,
    consumer_harness,
    log_messages,
    norm,
    provider_harness,
)
from fault_proxy import FaultProxy
from lambda_harness import LambdaHarness
from probe_servers import TestPki, TlsServer, closed_port
from testbed_fixtures import CONSUMER, PROVIDER, REGION, build_consumer_vpc, build_provider_network
from testbed_util import find_tool, skip_or_fail

LINK = "Custom::ServiceEndpoint"
PUBLICATION = "Custom::ServicePublication"
LINK_TAG = "privatelink-autowire:link-id"

RUN = uuid.uuid4().hex[:6]  # names differ between runs, so a long-lived emulator can be reused
_n = itertools.count(1)

PROVIDER_AZ_IDS = ["use1-az1", "use1-az4"]
CANDIDATE_AZ_IDS = ["use1-az1", "use1-az2", "use1-az4"]
LINK_TIMEOUT_S = 8  # shorter than twice the acceptance poll (10 s): the wait is a continuation
SERVICE_TIMEOUT = "60"
DRAIN_S = 60
PROBE = "probe"
PROBE_ARN = f"arn:aws:lambda:{REGION}:{CONSUMER}:function:{PROBE}"
VPCE_NAMES = "*.vpce.amazonaws.com"
NAMESPACE = "PrivateLinkAutowire"


def unique(label: str) -> str:
    return f"{label}-{RUN}-{next(_n)}"


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def provider_proxy(emulator_url):
    p = FaultProxy(emulator_url).start()
    yield p
    p.stop()


@pytest.fixture(scope="module")
def publisher(provider, provider_proxy):
    with provider_harness(provider, provider_proxy, 30) as h:
        yield h


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return TestPki(tmp_path_factory.mktemp("gate-pki"))


@pytest.fixture(scope="module")
def ca_file(pki, tmp_path_factory):
    path = tmp_path_factory.mktemp("gate-ca") / "test-ca.pem"
    path.write_text(pki.ca_pem)
    return path


@pytest.fixture(scope="module")
def probe_fn(ca_file):
    """The real probe, as function `probe` of account B; it trusts the test CA only, and never
    uses DNS. `aim_probe` sets its name map per test."""
    if find_tool("cargo-lambda") is None:
        skip_or_fail("cargo-lambda not installed (run `make venv`)")
    env = {"AUTOWIRE_PROBE_SYSTEM_DNS": "false", "AUTOWIRE_PROBE_HOSTS": "",
           "SSL_CERT_FILE": str(ca_file)}
    with LambdaHarness(bootstrap("probe"), PROBE, env=env, timeout_s=30, account=CONSUMER,
                       region=REGION) as h:
        yield h


@pytest.fixture(scope="module")
def link_fn(consumer, proxy, probe_fn):
    """The consumer function; its relay also delivers invokes of the probe."""
    with consumer_harness(consumer, proxy, LINK_TIMEOUT_S) as h:
        h.relay.add(probe_fn)
        yield h


@pytest.fixture(scope="module")
def cfn_a(capture):
    return CloudFormation(capture, PROVIDER, "gate-tests-provider")


@pytest.fixture(scope="module")
def cfn_b(capture):
    return CloudFormation(capture, CONSUMER, "gate-tests-consumer")


@pytest.fixture(scope="module")
def accept_service(provider):
    """A's service whose endpoints wait for A to accept them."""
    return build_provider_network(provider, PROVIDER_AZ_IDS, listeners=[("TLS", 443)],
                                  acceptance_required=True, allowed_accounts=[CONSUMER])


@pytest.fixture(scope="module")
def zone_ids(consumer) -> dict[str, str]:
    """B's {zone name: AZ ID}."""
    zones = consumer.client("ec2").describe_availability_zones()["AvailabilityZones"]
    return {z["ZoneName"]: z["ZoneId"] for z in zones}


@pytest.fixture
def server():
    """`server(issued)` -> a started TlsServer on 127.0.0.1, stopped after the test."""
    started = []

    def make(issued):
        s = TlsServer(issued).start()
        started.append(s)
        return s

    yield make
    for s in started:
        s.stop()


@dataclass
class Published:
    arn: str
    key: str
    domain: str
    port: int

    @property
    def alias(self) -> str:
        return f"api.{self.domain}"


@pytest.fixture(scope="module")
def publish(publisher, cfn_a, provider):
    """`publish(key, port)`: a descriptor for A's service with `Ports: ["<port>/TLS"]` and TLS
    names `<key>.link.example.com` and `*.` of it, published by the provider binary and shared
    with B through RAM."""

    def make(service, key: str, port: int) -> Published:
        domain = f"{key}.link.example.com"
        props = {"ServiceId": service.service_id, "ServiceKey": key, "Ports": [f"{port}/TLS"],
                 "TlsNames": [domain, f"*.{domain}"], "AllowedAccounts": [CONSUMER]}
        body = cfn_a.send(publisher, cfn_a.event(publisher, "Create", PUBLICATION,
                                                 "Publication", props))
        assert body["Status"] == "SUCCESS", body
        arn = body["Data"]["ParameterArn"]
        desc = json.loads(provider.client("ssm").get_parameter(Name=arn)["Parameter"]["Value"])
        assert desc["ports"] == [{"port": port, "protocol": "TLS"}], desc
        provider.client("ram").create_resource_share(
            name=f"autowire-{key}", resourceArns=[arn], principals=[CONSUMER])
        return Published(arn, key, domain, port)

    return make


# ---------------------------------------------------------------- helpers


def aim_probe(probe_fn, pub: Published) -> None:
    """Map the alias, its domain and the endpoint's names to 127.0.0.1 in the probe's
    environment; the next invoke cold-starts a process with it."""
    names = [pub.alias, pub.domain, f"*.{pub.domain}", VPCE_NAMES]
    probe_fn.user_env["AUTOWIRE_PROBE_HOSTS"] = ",".join(f"{n}=127.0.0.1" for n in names)
    probe_fn.restart()


def link_props(pub: Published, vpc_id: str, subnet_ids, probe_arn: str = PROBE_ARN) -> dict:
    return {"ServiceParameter": pub.arn, "VpcId": vpc_id, "SubnetIds": list(subnet_ids),
            "AliasName": pub.alias, "ServiceTimeout": SERVICE_TIMEOUT,
            "VerifyReachability": "true", "ProbeFunctionArn": probe_arn}


def tail(fn, n: int = 25) -> str:
    return "\n".join(json.dumps(m) for m in log_messages(fn)[-n:])


def endpoints_in(consumer, vpc_id: str) -> list[dict]:
    found = consumer.client("ec2").describe_vpc_endpoints(
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["VpcEndpoints"]
    return [e for e in found if e["State"] != "deleted"]


def owned_groups(consumer, lid: str) -> list[dict]:
    return consumer.client("ec2").describe_security_groups(
        Filters=[{"Name": f"tag:{LINK_TAG}", "Values": [lid]}])["SecurityGroups"]


def zones_of(consumer, vpc_id: str) -> dict[str, str]:
    listed = consumer.client("route53").list_hosted_zones_by_vpc(
        VPCId=vpc_id, VPCRegion=REGION)["HostedZoneSummaries"]
    return {norm(z["Name"]): bare_zone_id(z["HostedZoneId"]) for z in listed}


@dataclass
class Gated:
    body: dict  # the one answer CloudFormation got
    event: dict
    props: dict
    vpc_id: str
    endpoint_id: str
    probe_calls: list  # the relay's calls to the probe during this link


def link_with_gate(link_fn, cfn_b, consumer, provider, service, pub: Published,
                   probe_arn: str = PROBE_ARN) -> Gated:
    """Create the link; it makes the endpoint and waits for A in a continuation; A accepts;
    the continuation writes the alias and runs the gate. Returns the one answer."""
    vpc_id, subnets = build_consumer_vpc(consumer, CANDIDATE_AZ_IDS)
    props = link_props(pub, vpc_id, [subnets[a] for a in CANDIDATE_AZ_IDS], probe_arn)
    e = cfn_b.event(link_fn, "Create", LINK, "OrdersLink", props)
    before = len(link_fn.relay_calls())

    inv = link_fn.invoke_detailed(e)
    assert inv.ok and not inv.timed_out, f"{inv.error}\n{tail(link_fn)}"
    assert cfn_b.answers(e) == [], "the link waits for A in a continuation"
    [pending] = endpoints_in(consumer, vpc_id)
    assert pending["State"] == "pendingAcceptance"
    assert not [c for c in link_fn.relay_calls()[before:]
                if c.invocation_type == "RequestResponse"], "no gate before the endpoint is up"
    provider.client("ec2").accept_vpc_endpoint_connections(
        ServiceId=service.service_id, VpcEndpointIds=[pending["VpcEndpointId"]])

    for cont in link_fn.drain_async(DRAIN_S):
        assert cont.ok and not cont.timed_out, f"{cont.error}\n{tail(link_fn)}"
    path = "/" + e["RequestId"]
    got = cfn_b.capture.wait_for(path, count=1, timeout=10)
    attempts = cfn_b.capture.attempts(path)
    assert len(attempts) == 1, [a["body"] for a in attempts]
    body = got[0]["body"]
    assert body["RequestId"] == e["RequestId"] and body["LogicalResourceId"] == "OrdersLink"
    if body["Status"] == "FAILED":
        assert 0 < len(body["Reason"]) < 256 and "\n" not in body["Reason"], body["Reason"]
    calls = [c for c in link_fn.relay_calls()[before:] if c.invocation_type == "RequestResponse"]
    return Gated(body, e, props, vpc_id, pending["VpcEndpointId"], calls)


def probe_failure(body: dict, fn) -> str:
    assert body["Status"] == "FAILED", f"{body}\n{tail(fn)}"
    return body["Reason"]


def emf_lines(inv) -> list[dict]:
    return [l.json for l in inv.logs
            if l.stream == "stdout" and isinstance(l.json, dict) and "_aws" in l.json]


# ---------------------------------------------------------------- 1: the gate passes


def test_gate_passes_after_the_probe_reaches_every_name_through_the_invoke_api(
        link_fn, probe_fn, cfn_b, publish, accept_service, provider, consumer, pki, server,
        zone_ids):
    key = unique("gate-ok")
    domain = f"{key}.link.example.com"
    srv = server(pki.leaf([domain, f"*.{domain}"]))
    pub = publish(accept_service, key, srv.port)
    aim_probe(probe_fn, pub)

    g = link_with_gate(link_fn, cfn_b, consumer, provider, accept_service, pub)
    assert g.body["Status"] == "SUCCESS", f"{g.body}\n{tail(link_fn)}"
    data = g.body["Data"]
    assert data["EndpointId"] == g.endpoint_id and data["AliasName"] == pub.alias
    assert data["State"] == "available"

    # One synchronous invoke of the probe, by its ARN, delivered to the probe harness.
    [call] = g.probe_calls
    assert (call.function_name, call.invocation_type, call.status, call.target) == (
        PROBE_ARN, "RequestResponse", 200, PROBE)
    inv = call.invocation
    assert inv is not None and inv.ok, inv and inv.error
    assert inv.payload["ok"] is True, inv.payload

    # What the link asked: the alias, the regional name, each zonal name (with its AZ ID), on
    # the descriptor's port, TLS checked against the alias; no CA bundle.
    ep = consumer.client("ec2").describe_vpc_endpoints(
        VpcEndpointIds=[g.endpoint_id])["VpcEndpoints"][0]
    regional, *zonal = [d["DnsName"] for d in ep["DnsEntries"]]
    assert len(zonal) == 2 and data["DnsName"] == regional
    tls = {"server_name": pub.alias, "expect_names": [pub.alias]}

    def az_of(name: str) -> str:
        [az] = [i for z, i in zone_ids.items() if f"-{z}." in name]
        return az

    want = ([{"host": pub.alias, "port": srv.port, "service_key": key, "tls": tls},
             {"host": regional, "port": srv.port, "service_key": key, "tls": tls}]
            + [{"host": z, "port": srv.port, "service_key": key, "az_id": az_of(z), "tls": tls}
               for z in zonal])
    assert call.payload["targets"] == want, call.payload
    assert sorted(t["az_id"] for t in want[2:]) == PROVIDER_AZ_IDS
    assert set(call.payload) == {"targets", "timeout_ms"}, "no hosts, no DNS switch: the env's"

    # The probe's report: every target passed TLS on 127.0.0.1, the certificate from the CA
    # in SSL_CERT_FILE; the server saw the alias as SNI on every connection.
    report = inv.payload
    assert report["summary"] == {"total": 4, "ok": 4, "failed": 0}, report
    for t in report["targets"]:
        assert (t["ok"], t["stage"], t["addresses"]) == (True, "tls", ["127.0.0.1"]), t
        assert sorted(t["tls"]["names"]) == sorted([domain, f"*.{domain}"]), t
    assert srv.sni == [pub.alias] * 4, srv.sni
    assert srv.handshakes == ["ok"] * 4, srv.handshakes

    # EMF on the probe's stdout: dns, tcp and tls succeeded for each target.
    docs = emf_lines(inv)
    assert docs, "no EMF lines:\n" + "\n".join(l.line for l in inv.logs[-20:])
    for d in docs:
        assert d["_aws"]["CloudWatchMetrics"][0]["Namespace"] == NAMESPACE, d
        assert d["ServiceKey"] == key and d["Port"] == srv.port and d["Success"] == 1, d
    seen = sorted((d["Host"], d["AzId"], d["Stage"]) for d in docs)
    assert seen == sorted((t["host"], t.get("az_id", "regional"), s)
                          for t in want for s in ("dns", "tcp", "tls")), seen

    verified = [m for m in log_messages(link_fn) if m.get("message") == "reachability verified"
                and m.get("probe") == PROBE_ARN]
    assert verified and verified[-1].get("targets") == 4, tail(link_fn)

    # Control: the trust came from SSL_CERT_FILE. The same request without it is untrusted.
    ca = probe_fn.user_env.pop("SSL_CERT_FILE")
    probe_fn.restart()
    try:
        bare = probe_fn.invoke_detailed(call.payload)
    finally:
        probe_fn.user_env["SSL_CERT_FILE"] = ca
        probe_fn.restart()
    assert bare.ok, bare.error
    assert {(t["stage"], t["error"]["class"]) for t in bare.payload["targets"]} == {
        ("tls", "tls_untrusted")}, bare.payload


# ---------------------------------------------------------------- 2: certificate


def test_gate_fails_on_a_certificate_not_covering_the_alias_and_delete_cleans_up(
        link_fn, probe_fn, cfn_b, publish, accept_service, provider, consumer, pki, server):
    key = unique("gate-cert")
    srv = server(pki.leaf(["other.example.net"]))
    pub = publish(accept_service, key, srv.port)
    aim_probe(probe_fn, pub)

    g = link_with_gate(link_fn, cfn_b, consumer, provider, accept_service, pub)
    reason = probe_failure(g.body, link_fn)
    assert reason.startswith("reachability check failed: TLS certificate"), reason
    assert pub.alias in reason, reason
    assert reason.startswith(f"reachability check failed: TLS certificate does not cover "
                             f"{pub.alias}"), "the alias target comes first (no AZ)"
    [call] = g.probe_calls
    assert call.status == 200 and call.invocation.payload["ok"] is False
    assert {t["error"]["class"] for t in call.invocation.payload["targets"]} == {
        "tls_name_mismatch"}, "trusted (SSL_CERT_FILE), only the name is wrong"

    # The failed Create answered with the link ID; what it made is there until the Delete.
    lid = g.body["PhysicalResourceId"]
    assert lid.startswith("link-")
    assert [e["VpcEndpointId"] for e in endpoints_in(consumer, g.vpc_id)] == [g.endpoint_id]
    assert len(owned_groups(consumer, lid)) == 1
    assert list(zones_of(consumer, g.vpc_id)) == [pub.domain]

    deleted = cfn_b.send(link_fn, cfn_b.event(link_fn, "Delete", LINK, "OrdersLink", g.props,
                                              physical_id=lid), timeout=DRAIN_S)
    assert deleted["Status"] == "SUCCESS", f"{deleted}\n{tail(link_fn)}"
    assert deleted["PhysicalResourceId"] == lid
    assert endpoints_in(consumer, g.vpc_id) == []
    assert owned_groups(consumer, lid) == []
    assert zones_of(consumer, g.vpc_id) == {}


# ---------------------------------------------------------------- 3: closed port


def test_gate_fails_on_a_closed_port_with_the_tcp_refusal(
        link_fn, probe_fn, cfn_b, publish, accept_service, provider, consumer):
    key = unique("gate-closed")
    port = closed_port()  # nothing listens there
    pub = publish(accept_service, key, port)
    aim_probe(probe_fn, pub)

    g = link_with_gate(link_fn, cfn_b, consumer, provider, accept_service, pub)
    reason = probe_failure(g.body, link_fn)
    assert reason.startswith(
        f"reachability check failed: TCP {port} to 127.0.0.1:{port} refused"), reason
    [call] = g.probe_calls
    report = call.invocation.payload
    assert report["summary"] == {"total": 4, "ok": 0, "failed": 4}, report
    assert {(t["stage"], t["error"]["class"]) for t in report["targets"]} == {
        ("tcp", "tcp_refused")}, report


# ---------------------------------------------------------------- 4: no such probe


def test_gate_fails_when_the_probe_function_does_not_exist(
        link_fn, probe_fn, cfn_b, publish, accept_service, provider, consumer, pki, server):
    key = unique("gate-noprobe")
    domain = f"{key}.link.example.com"
    srv = server(pki.leaf([domain, f"*.{domain}"]))
    pub = publish(accept_service, key, srv.port)
    missing = f"arn:aws:lambda:{REGION}:{CONSUMER}:function:no-such-probe-{RUN}"
    invoked_before = len(probe_fn.invocations)

    g = link_with_gate(link_fn, cfn_b, consumer, provider, accept_service, pub,
                       probe_arn=missing)
    reason = probe_failure(g.body, link_fn)
    assert reason.startswith("the reachability probe could not run: check ProbeFunctionArn"), reason
    assert "(ResourceNotFoundException)" in reason and missing in reason, reason
    [call] = g.probe_calls
    assert (call.function_name, call.status, call.error_type, call.target) == (
        missing, 404, "ResourceNotFoundException", None)
    assert len(probe_fn.invocations) == invoked_before, "the real probe was not invoked"
    assert srv.accepted == 0
