"""The real `provider` binary under cargo-lambda's runtime emulator, talking to the test bed
through the fault proxy, answering to the capture server."""

from __future__ import annotations

import json
import uuid

import pytest

from binary_support import provider_bootstrap
from lambda_harness import LambdaHarness
from testbed_fixtures import REGION, build_provider_network, function_env

PROVIDER = "111111111111"
FN = "provider"
FN_ARN = f"arn:aws:lambda:{REGION}:{PROVIDER}:function:{FN}"
STACK = f"arn:aws:cloudformation:{REGION}:{PROVIDER}:stack/binary-tests/{uuid.uuid4()}"
READ_ONLY = ("Describe", "Get", "List")
RUN = uuid.uuid4().hex[:6]  # keys differ between runs, so a long-lived emulator can be reused


@pytest.fixture(scope="module")
def provider_fn(account, proxy):
    with LambdaHarness(
        provider_bootstrap(), FN, env=function_env(account(PROVIDER), proxy.url),
        timeout_s=60, account=PROVIDER, region=REGION,
    ) as h:
        yield h


@pytest.fixture(scope="module")
def service(account):
    return build_provider_network(
        account(PROVIDER), ["use1-az1", "use1-az4"], listeners=[("TCP", 443)], acceptance_required=True,
    )


def event(capture, kind, props, physical_id=None, old=None, logical="Publication",
          resource_type="Custom::ServicePublication"):
    rid = str(uuid.uuid4())
    e = {
        "RequestType": kind,
        "ServiceToken": FN_ARN,
        "ResponseURL": capture.response_url(f"/{rid}"),
        "StackId": STACK,
        "RequestId": rid,
        "ResourceType": resource_type,
        "LogicalResourceId": logical,
        "ResourceProperties": {"ServiceToken": FN_ARN, **props},
    }
    if physical_id is not None:
        e["PhysicalResourceId"] = physical_id
    if old is not None:
        e["OldResourceProperties"] = {"ServiceToken": FN_ARN, **old}
    return e


def answer_of(fn, capture, e) -> dict:
    """Invoke and return the one answer CloudFormation got, checking there is exactly one."""
    fn.invoke(e)
    path = "/" + e["RequestId"]
    capture.wait_for(path, count=1, timeout=30)
    got = capture.responses(path)
    assert len(got) == 1, f"expected exactly one answer, got {len(got)}"
    body = got[0]["body"]
    assert body["RequestId"] == e["RequestId"] and body["StackId"] == STACK
    assert len(json.dumps(body)) <= 4096
    return body


def mutating(proxy) -> list[str]:
    return [c["action"] for c in proxy.calls() if not str(c["action"]).startswith(READ_ONLY)]


def props_for(service, key):
    return {"ServiceId": service.service_id, "ServiceKey": f"{key}-{RUN}", "TlsNames": ["orders.link.example.com"],
            "AllowedAccounts": ["222222222222"]}


def test_create_publishes_the_descriptor_and_answers_success_once(provider_fn, capture, service, account):
    body = answer_of(provider_fn, capture, event(capture, "Create", props_for(service, "bin-orders")))
    assert body["Status"] == "SUCCESS", body
    assert body["Data"]["AzIds"] == "use1-az1,use1-az4"
    assert body["PhysicalResourceId"] == body["Data"]["ParameterArn"]
    ssm = account(PROVIDER).client("ssm")
    stored = ssm.get_parameter(Name=body["Data"]["ParameterName"])["Parameter"]
    descriptor = json.loads(stored["Value"])
    assert descriptor["az_ids"] == ["use1-az1", "use1-az4"]
    assert descriptor["acceptance"] == "policy"
    assert descriptor["digest"] == body["Data"]["Digest"]
    assert stored["Value"] == json.dumps(descriptor, sort_keys=True, separators=(",", ":"))


def test_repeated_create_and_noop_update_make_no_mutating_calls(provider_fn, capture, service, proxy):
    props = props_for(service, "bin-idem")
    first = answer_of(provider_fn, capture, event(capture, "Create", props))
    assert first["Status"] == "SUCCESS", first
    proxy.reset_calls()
    again = answer_of(provider_fn, capture, event(capture, "Create", props))
    update = answer_of(provider_fn, capture, event(capture, "Update", props, physical_id=first["PhysicalResourceId"], old=props))
    assert again["Status"] == update["Status"] == "SUCCESS"
    assert again["Data"] == first["Data"] == update["Data"]
    assert proxy.calls(), "the proxy saw the function's calls"
    assert mutating(proxy) == []


def test_delete_removes_the_publication_and_a_second_delete_is_a_no_op(provider_fn, capture, service, proxy, account):
    props = props_for(service, "bin-delete")
    created = answer_of(provider_fn, capture, event(capture, "Create", props))
    pid = created["PhysicalResourceId"]
    deleted = answer_of(provider_fn, capture, event(capture, "Delete", props, physical_id=pid))
    assert deleted["Status"] == "SUCCESS" and deleted["PhysicalResourceId"] == pid
    ssm = account(PROVIDER).client("ssm")
    names = [created["Data"]["ParameterName"], created["Data"]["ParameterName"] + "/policy"]
    assert ssm.get_parameters(Names=names)["InvalidParameters"] == names
    proxy.reset_calls()
    again = answer_of(provider_fn, capture, event(capture, "Delete", props, physical_id=pid))
    assert again["Status"] == "SUCCESS"
    assert mutating(proxy) == []


@pytest.mark.parametrize("props,reason", [
    ({"ServiceKey": "x"}, "property ServiceId: is required"),
    ({"ServiceId": "vpce-svc-0123456789abcdef0", "ServiceKey": "x", "RejectUnlisted": "perhaps"}, "not true or false"),
    ({"ServiceId": "vpce-svc-0123456789abcdef0", "ServiceKey": "x", "Colour": "red"}, "unknown properties: Colour"),
])
def test_bad_properties_fail_once_without_aws_calls(provider_fn, capture, proxy, props, reason):
    proxy.reset_calls()
    body = answer_of(provider_fn, capture, event(capture, "Create", props))
    assert body["Status"] == "FAILED"
    assert reason in body["Reason"] and len(body["Reason"]) < 256
    assert proxy.calls() == []


def test_aws_error_fails_once_with_its_code(provider_fn, capture, service, proxy):
    proxy.add_fault(["DescribeAvailabilityZones"], rate=1.0, code="UnauthorizedOperation", status=403,
                    message="You are not authorized to perform this operation.")
    try:
        body = answer_of(provider_fn, capture, event(capture, "Create", props_for(service, "bin-denied")))
    finally:
        proxy.clear_faults()
    assert body["Status"] == "FAILED"
    assert body["Reason"].startswith("ec2:DescribeAvailabilityZones failed: UnauthorizedOperation"), body
    assert body["PhysicalResourceId"].startswith("autowire-create-failed:")


def test_delete_after_failed_create_makes_no_aws_calls(provider_fn, capture, proxy):
    failed = answer_of(provider_fn, capture, event(capture, "Create", {"ServiceKey": "x"}))
    assert failed["Status"] == "FAILED"
    proxy.reset_calls()
    body = answer_of(provider_fn, capture, event(capture, "Delete", {"ServiceKey": "x"},
                                                 physical_id=failed["PhysicalResourceId"]))
    assert body["Status"] == "SUCCESS"
    assert proxy.calls() == []


def test_near_deadline_fails_once_before_the_deadline(account, proxy, capture, service):
    # Every AWS call is throttled, so the SDK keeps backing off (jittered, up to 1+2+4+8 s) far past
    # a 1 s invocation; the runtime must answer FAILED itself before Lambda's deadline.
    proxy.add_fault(["*"], rate=1.0)
    try:
        with LambdaHarness(provider_bootstrap(), FN, env=function_env(account(PROVIDER), proxy.url),
                           timeout_s=1, account=PROVIDER, region=REGION) as fn:
            e = event(capture, "Create", props_for(service, "bin-deadline"))
            inv = fn.invoke_detailed(e)
    finally:
        proxy.clear_faults()
    assert not inv.timed_out, "the function must answer before Lambda kills it"
    got = capture.wait_for("/" + e["RequestId"], count=1, timeout=10)
    assert len(got) == 1
    body = got[0]["body"]
    assert body["Status"] == "FAILED" and body["Reason"].startswith("timed out"), body


def test_non_s3_response_url_is_refused_and_nothing_is_sent(provider_fn, capture, proxy):
    e = event(capture, "Create", {"ServiceKey": "x"})
    e["ResponseURL"] = "https://collector.example.net/answer?X-Amz-Signature=topsecret"
    proxy.reset_calls()
    before = len(capture.attempts())
    inv = provider_fn.invoke_detailed(e)
    assert inv.error is not None and "refused" in inv.error["errorMessage"]
    assert "topsecret" not in inv.error["errorMessage"]
    assert len(capture.attempts()) == before
    assert proxy.calls() == []


def test_logs_are_json_with_one_span_per_invocation_and_no_signatures(provider_fn, capture, service):
    e = event(capture, "Create", props_for(service, "bin-logs"))
    answer_of(provider_fn, capture, e)
    lines = provider_fn.logs()
    assert lines
    assert not any("X-Amz-Signature" in line.line for line in lines)
    answered = [j for j in provider_fn.json_logs()
                if j.get("fields", {}).get("message") == "answered CloudFormation"
                and e["RequestId"] in json.dumps(j)]
    assert len(answered) == 1, provider_fn.json_logs()[-5:]
    span = answered[0].get("span") or answered[0]["spans"][-1]
    for field in ("stack", "logical_id", "request_type", "physical_id"):
        assert field in span, span
    assert provider_fn.cold_start_s is not None
    print(f"provider cold start to first response: {provider_fn.cold_start_s * 1000:.0f} ms")
