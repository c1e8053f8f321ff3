"""The fault-injecting proxy (fault_proxy.py) in front of a plain moto server."""

from __future__ import annotations

import http.client
import json
import signal
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fault_proxy import Crash, FaultProxy, classify, is_mutating  # noqa: E402
from testbed_util import (  # noqa: E402
    free_port,
    http_json,
    in_ci,
    read_request_body,
    start_moto_server,
    start_process,
)

if in_ci():
    import boto3
    import botocore.exceptions
    from botocore.config import Config
else:
    boto3 = pytest.importorskip("boto3")
    import botocore.exceptions
    from botocore.config import Config

REGION = "us-east-1"
KEY = "AKIAFAULTPROXYTEST01"
NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"})


@pytest.fixture(scope="module")
def moto_url():
    proc, url = start_moto_server()
    try:
        yield url
    finally:
        proc.stop()


@pytest.fixture
def proxy(moto_url):
    with FaultProxy(moto_url) as p:
        yield p


def client(proxy, service, key=KEY):
    return boto3.client(
        service, endpoint_url=proxy.url, region_name=REGION,
        aws_access_key_id=key, aws_secret_access_key="secret", config=NO_RETRIES,
    )


def error_of(fn):
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        fn()
    r = ei.value.response
    return r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"]


def test_forwards_boto3_calls_to_moto_and_records_them(proxy):
    ec2 = client(proxy, "ec2")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    assert any(v["VpcId"] == vpc for v in ec2.describe_vpcs()["Vpcs"])
    ssm = client(proxy, "ssm")
    ssm.put_parameter(Name="/autowire/x", Value="v", Type="String")
    assert ssm.get_parameter(Name="/autowire/x")["Parameter"]["Value"] == "v"
    assert client(proxy, "elbv2").describe_load_balancers()["LoadBalancers"] == []
    r53 = client(proxy, "route53")
    zone = r53.create_hosted_zone(Name="svc.internal.", CallerReference="c1")["HostedZone"]["Id"]
    r53.get_hosted_zone(Id=zone)
    client(proxy, "lambda").list_functions()
    client(proxy, "sts", key="AKIAOTHERACCOUNT0001").get_caller_identity()

    calls = proxy.calls()
    assert [(c["service"], c["action"]) for c in calls] == [
        ("ec2", "CreateVpc"),
        ("ec2", "DescribeVpcs"),
        ("ssm", "PutParameter"),
        ("ssm", "GetParameter"),
        ("elasticloadbalancing", "DescribeLoadBalancers"),
        ("route53", "CreateHostedZone"),
        ("route53", "GetHostedZone"),
        ("lambda", "ListFunctions"),
        ("sts", "GetCallerIdentity"),
    ]
    assert [c["protocol"] for c in calls] == [
        "ec2", "ec2", "json", "json", "query", "rest-xml", "rest-xml", "rest-json", "query"]
    assert [c["account_access_key_id"] for c in calls] == [KEY] * 8 + ["AKIAOTHERACCOUNT0001"]
    assert all(c["region"] == REGION and not c["throttled"] for c in calls)
    assert [c["status"] for c in calls] == [200, 200, 200, 200, 200, 201, 200, 200, 200]
    assert calls[5]["rest"] == "POST /2013-04-01/hostedzone"
    assert proxy.count("DescribeVpcs", service="ec2") == 1

    # the same list over HTTP, filterable; DELETE resets it
    status, over_http = http_json("GET", proxy.url + "/_autowire/calls")
    assert status == 200 and [c["action"] for c in over_http] == [c["action"] for c in calls]
    _, ssm_only = http_json("GET", proxy.url + "/_autowire/calls?service=ssm")
    assert [c["action"] for c in ssm_only] == ["PutParameter", "GetParameter"]
    assert http_json("DELETE", proxy.url + "/_autowire/calls")[0] == 204
    assert proxy.calls() == []


def test_throttling_in_each_protocols_wire_format(proxy):
    made = http_json("POST", proxy.url + "/_autowire/faults", {"actions": ["*"]})
    assert made[0] == 200 and made[1]["actions"] == ["*"]

    assert error_of(lambda: client(proxy, "ec2").describe_vpcs()) == ("RequestLimitExceeded", 503)
    assert error_of(lambda: client(proxy, "elbv2").describe_load_balancers()) == ("Throttling", 400)
    assert error_of(lambda: client(proxy, "sts").get_caller_identity()) == ("Throttling", 400)
    assert error_of(lambda: client(proxy, "route53").list_hosted_zones()) == ("Throttling", 400)
    assert error_of(lambda: client(proxy, "ssm").get_parameter(Name="/x")) == ("ThrottlingException", 400)
    assert error_of(lambda: client(proxy, "lambda").list_functions()) == ("TooManyRequestsException", 429)

    calls = proxy.calls()
    assert len(calls) == 6  # retries are off: one attempt each
    assert all(c["throttled"] for c in calls)
    assert [c["error_code"] for c in calls] == [
        "RequestLimitExceeded", "Throttling", "Throttling", "Throttling",
        "ThrottlingException", "TooManyRequestsException"]


def test_throttle_wire_bytes(proxy):
    """Raw shapes: EC2 envelope, ErrorResponse, JSON header + body."""
    proxy.add_fault("*")
    auth = ("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-east-1/{svc}/aws4_request, "
            "SignedHeaders=host;x-amz-date, Signature=00")

    def send(svc, body, headers):
        conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
        conn.request("POST", "/", body=body, headers={"Authorization": auth.format(svc=svc), **headers})
        r = conn.getresponse()
        out = r.status, dict(r.getheaders()), r.read()
        conn.close()
        return out

    form = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    status, headers, body = send("ec2", b"Action=CreateVpcEndpoint&Version=2016-11-15", form)
    assert status == 503
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
                           b"<Code>RequestLimitExceeded</Code>")
    assert b"<RequestID>" in body

    status, headers, body = send("elasticloadbalancing", b"Action=DescribeListeners&Version=2015-12-01", form)
    assert status == 400
    assert b"<ErrorResponse" in body and b"<Type>Sender</Type><Code>Throttling</Code>" in body

    status, headers, body = send("ssm", b"{}", {"Content-Type": "application/x-amz-json-1.1",
                                               "X-Amz-Target": "AmazonSSM.GetParameter"})
    assert status == 400
    assert headers["x-amzn-ErrorType"] == "ThrottlingException"
    assert json.loads(body) == {"__type": "ThrottlingException", "message": "Rate exceeded"}


def test_first_n_then_pass_and_counts(proxy):
    ec2 = client(proxy, "ec2")
    rule = proxy.add_fault(["CreateVpcEndpoint", "DescribeVpcs"], first=2)
    assert error_of(ec2.describe_vpcs) == ("RequestLimitExceeded", 503)
    client(proxy, "ssm").put_parameter(Name="/p", Value="1", Type="String", Overwrite=True)  # unmatched
    assert error_of(ec2.describe_vpcs) == ("RequestLimitExceeded", 503)
    ec2.describe_vpcs()
    ec2.describe_vpcs()
    [state] = proxy.faults()
    assert state["id"] == rule["id"] and state["matched"] == 4 and state["injected"] == 2
    assert proxy.count("DescribeVpcs", throttled=True) == 2
    assert proxy.count("DescribeVpcs", throttled=False) == 2
    assert [c["throttled"] for c in proxy.calls()] == [True, False, True, False, False]


def test_rate_with_seed_is_deterministic(proxy):
    ec2 = client(proxy, "ec2")

    def run():
        proxy.clear_faults()
        proxy.reset_calls()
        status, _ = http_json("POST", proxy.url + "/_autowire/faults",
                              {"actions": ["ec2:DescribeVpcs"], "rate": 0.5, "seed": 1})
        assert status == 200
        pattern = []
        for _ in range(20):
            try:
                ec2.describe_vpcs()
                pattern.append(False)
            except botocore.exceptions.ClientError as e:
                assert e.response["Error"]["Code"] == "RequestLimitExceeded"
                pattern.append(True)
        return pattern

    first, second = run(), run()
    assert first == second
    assert 3 <= sum(first) <= 17
    assert [c["throttled"] for c in proxy.calls()] == second
    assert http_json("DELETE", proxy.url + "/_autowire/faults")[0] == 204
    assert http_json("GET", proxy.url + "/_autowire/faults")[1] == []


def test_bad_fault_rule_is_rejected(proxy):
    assert http_json("POST", proxy.url + "/_autowire/faults", {"rate": 0.5})[0] == 400
    assert http_json("POST", proxy.url + "/_autowire/faults", {"actions": ["X"], "rate": 2})[0] == 400


class _Echo(BaseHTTPRequestHandler):
    """Upstream that records the raw request it received."""

    protocol_version = "HTTP/1.1"
    seen: list = []

    def log_message(self, *a):
        pass

    def _any(self):
        body = read_request_body(self)
        _Echo.seen.append((self.command, self.path, list(self.headers.items()), body))
        out = b'{"ok":true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Upstream", "yes")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = do_PUT = do_DELETE = _any


def test_forwarding_is_faithful():
    """Method, path+query, every header (Host and SigV4 included) and body
    reach the upstream unchanged; the upstream answer comes back unchanged."""
    _Echo.seen = []
    up = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    t = threading.Thread(target=up.serve_forever, daemon=True)
    t.start()
    try:
        with FaultProxy(f"http://127.0.0.1:{up.server_address[1]}") as p:
            body = b"Action=DescribeVpcs&Version=2016-11-15&Filter.1.Name=tag%3Ax"
            headers = {
                "Host": "ec2.us-east-1.amazonaws.com",
                "Authorization": "AWS4-HMAC-SHA256 Credential=AKIDX/20240101/us-east-1/ec2/"
                                 "aws4_request, SignedHeaders=host;x-amz-date, Signature=abc",
                "X-Amz-Date": "20240101T000000Z",
                "X-Amz-Security-Token": "tok",
                "Content-Type": "application/x-www-form-urlencoded",
            }
            conn = http.client.HTTPConnection("127.0.0.1", p.port, timeout=10)
            conn.request("POST", "/some/path?a=1&b=%2F", body=body, headers=headers)
            r = conn.getresponse()
            assert r.status == 200 and r.read() == b'{"ok":true}'
            assert r.getheader("X-Upstream") == "yes"
            conn.close()
            [(method, path, got_headers, got_body)] = _Echo.seen
            assert (method, path, got_body) == ("POST", "/some/path?a=1&b=%2F", body)
            got = dict(got_headers)
            for k, v in headers.items():
                assert got[k] == v
            assert got["Content-Length"] == str(len(body))
            assert p.calls()[0]["action"] == "DescribeVpcs"
    finally:
        up.shutdown()
        up.server_close()


def test_classify_rest_and_json_targets():
    h = {"Authorization": "AWS4-HMAC-SHA256 Credential=AK/20240101/us-west-2/lambda/aws4_request, x"}
    c = classify("POST", "/2015-03-31/functions/my-fn/invocations", h, b"{}")
    assert (c["service"], c["action"], c["protocol"], c["region"]) == ("lambda", "Invoke", "rest-json", "us-west-2")
    h = {"Authorization": "AWS4-HMAC-SHA256 Credential=AK/20240101/us-east-1/route53/aws4_request, x"}
    c = classify("POST", "/2013-04-01/hostedzone/Z123/rrset/", h, b"<x/>")
    assert c["action"] == "ChangeResourceRecordSets"
    c = classify("GET", "/2013-04-01/unknownthing", h, b"")
    assert c["action"] == "GET /2013-04-01/unknownthing"
    h = {"Authorization": "AWS4-HMAC-SHA256 Credential=AK/20240101/us-east-1/acm/aws4_request, x",
         "X-Amz-Target": "CertificateManager.DescribeCertificate"}
    c = classify("POST", "/", h, b"{}")
    assert (c["service"], c["action"], c["protocol"]) == ("acm", "DescribeCertificate", "json")


def test_standalone_cli(moto_url):
    port = free_port()
    proc = start_process(
        [sys.executable, str(Path(__file__).with_name("fault_proxy.py")),
         "--listen-port", str(port), "--upstream", moto_url],
        name="fault_proxy", ready_line=r"fault proxy listening on", timeout=30,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        ec2 = boto3.client("ec2", endpoint_url=url, region_name=REGION,
                           aws_access_key_id=KEY, aws_secret_access_key="s", config=NO_RETRIES)
        ec2.describe_vpcs()
        assert http_json("POST", url + "/_autowire/faults",
                         {"actions": ["DescribeVpcs"], "first": 1})[0] == 200
        assert error_of(ec2.describe_vpcs) == ("RequestLimitExceeded", 503)
        _, calls = http_json("GET", url + "/_autowire/calls")
        assert [(c["action"], c["throttled"]) for c in calls] == [
            ("DescribeVpcs", False), ("DescribeVpcs", True)]
    finally:
        proc.stop()


def test_is_mutating():
    def call(method, target):
        h = {"Authorization": "AWS4-HMAC-SHA256 Credential=AK/20240101/us-east-1/route53/"
                              "aws4_request, x"}
        return classify(method, target, h, b"")

    assert not is_mutating(call("GET", "/2013-04-01/hostedzone/Z1/rrset"))  # ListResourceRecordSets
    assert is_mutating(call("POST", "/2013-04-01/hostedzone/Z1/rrset"))  # ChangeResourceRecordSets
    assert not is_mutating(call("GET", "/2013-04-01/somethingnew"))  # unnamed REST GET
    assert is_mutating(call("POST", "/2013-04-01/somethingnew"))
    assert is_mutating({"action": "CreateVpcEndpoint", "method": "POST"})
    for read in ("DescribeVpcs", "GetParameter", "ListTagsForCertificate"):
        assert not is_mutating({"action": read, "method": "POST"})


_CHILD = """
import sys, boto3
from botocore.config import Config
ssm = boto3.client("ssm", endpoint_url=sys.argv[1], region_name="us-east-1",
                   aws_access_key_id="AKIAKILLTEST00000001", aws_secret_access_key="s",
                   config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))
print("ready", flush=True)
for i in range(1, 4):
    ssm.put_parameter(Name=f"/kill-test/{sys.argv[2]}/{i}", Value="v", Type="String")
    ssm.get_parameter(Name=f"/kill-test/{sys.argv[2]}/{i}")
    print(f"answered {i}", flush=True)
"""


def test_kill_after_the_nth_mutating_call_sigkills_before_the_answer(proxy, moto_url):
    run = uuid.uuid4().hex[:8]
    child = start_process([sys.executable, "-c", _CHILD, proxy.url, run], name="kill-child",
                          ready_line="ready", timeout=30)
    try:
        proxy.kill_after(2, lambda: child.pid)
        assert child.popen.wait(timeout=30) == -signal.SIGKILL
    finally:
        child.stop()
    time.sleep(0.1)  # let the output readers finish
    assert child.output("stdout") == ["ready", "answered 1"], "it never saw the 2nd answer"
    calls = proxy.calls()
    assert [c["action"] for c in calls] == ["PutParameter", "GetParameter", "PutParameter"]
    assert calls[-1]["status"] == 200 and calls[-1]["killed_pid"] == child.pid
    state = proxy.kill_state()
    assert state["after"] == 2 and state["seen"] == 2
    assert state["fired"]["action"] == "PutParameter" and state["fired"]["dead"] is True
    # The 2nd call took effect upstream all the same; the 3rd was never made.
    ssm = boto3.client("ssm", endpoint_url=moto_url, region_name=REGION,
                       aws_access_key_id="AKIAKILLTEST00000001", aws_secret_access_key="s")
    names = {p["Name"] for p in ssm.describe_parameters()["Parameters"]}
    assert {f"/kill-test/{run}/1", f"/kill-test/{run}/2"} <= names
    assert f"/kill-test/{run}/3" not in names
    # One-shot: later calls pass; disarm() forgets it.
    ssm_via_proxy = client(proxy, "ssm")
    ssm_via_proxy.put_parameter(Name=f"/kill-test/{run}/after", Value="v", Type="String")
    proxy.disarm()
    assert proxy.kill_state() is None
    with pytest.raises(ValueError):
        proxy.kill_after(0, 1)


def test_one_crash_counts_across_every_counter_it_is_armed_on(proxy):
    """The crash matrix arms one Crash on the proxy and on the harness's relay: `after` counts
    the events of both together, and it fires once."""
    crash = Crash(3, lambda: None)  # no process: nothing is signalled
    assert proxy.arm(crash) is crash and proxy.kill_state()["after"] == 3
    ssm = client(proxy, "ssm")
    ssm.put_parameter(Name=f"/crash-{uuid.uuid4().hex[:8]}", Value="v", Type="String")  # 1st
    assert crash.count() is False  # 2nd: counted elsewhere (the relay, say)
    ssm.describe_parameters()  # read-only: not counted
    assert crash.as_dict()["fired"] is None
    with pytest.raises(botocore.exceptions.ConnectionClosedError):  # 3rd: no answer relayed
        ssm.put_parameter(Name=f"/crash-{uuid.uuid4().hex[:8]}", Value="v", Type="String")
    assert crash.as_dict()["fired"]["action"] == "PutParameter"
    assert crash.as_dict()["fired"]["pid"] is None
    assert [crash.count() for _ in range(3)] == [False] * 3, "one shot"
    proxy.disarm()
    assert proxy.kill_state() is None
