"""The link's safety and compatibility through the real consumer binary (issue 11), with the
fixtures of test_link_binary.py (account A publishes and shares by RAM; B links):

- a descriptor from a newer provider, with a field this release does not know (digested with the
  rest), is read and linked;
- two links in one VPC whose aliases share a parent domain share the private zone the first one
  made; the last one out deletes it;
- an AliasHostedZoneId that is a public zone is refused before anything is made;
- an unsupported RequestType gets exactly one FAILED answer naming it.
"""

from __future__ import annotations

import hashlib
import json

from binary_support import bare_zone_id
from test_link_binary import (  # noqa: F401  (fixtures, used by name)
    CANDIDATE_AZ_IDS,
    LINK,
    MEMBER_TAG,
    answer_ok,
    auto_service,
    b_key,
    b_mutating,
    candidates,
    cfn_a,
    cfn_b,
    cnames,
    endpoints_in,
    link_fn,
    link_id,
    link_props,
    owned_groups,
    provider_proxy,
    publish,
    publisher,
    unique,
    zone_tags,
    zones_of,
)
from testbed_fixtures import CONSUMER, build_consumer_vpc, build_public_zone

ALIAS_ZONE_TAG = "privatelink-autowire:alias-zone"


def canonical(value: dict) -> str:
    """The descriptor's canonical JSON: keys sorted, no insignificant whitespace (ASCII here)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def test_a_descriptor_with_a_field_this_release_does_not_know_is_linked(
        link_fn, cfn_b, publish, auto_service, provider, consumer):
    pub = publish(auto_service, "newer")
    # What a newer provider writes: one more field, in the digest like every other.
    newer = {k: v for k, v in pub.descriptor.items() if k != "digest"}
    newer["future_field"] = {"weights": [1, 2], "mode": "next"}
    newer["digest"] = hashlib.sha256(canonical(newer).encode()).hexdigest()
    name = f"/privatelink-autowire/services/{unique('newer')}"
    ssm = provider.client("ssm")
    ssm.put_parameter(Name=name, Value=canonical(newer), Type="String", Tier="Advanced")
    arn = ssm.get_parameter(Name=name)["Parameter"]["ARN"]
    provider.client("ram").create_resource_share(
        name=f"autowire-{unique('newer')}", resourceArns=[arn], principals=[CONSUMER])
    vpc_id, subnets = build_consumer_vpc(consumer, CANDIDATE_AZ_IDS)
    props = {**link_props(pub, vpc_id, candidates(subnets)), "ServiceParameter": arn}

    body = cfn_b.send(link_fn, cfn_b.event(link_fn, "Create", LINK, "OrdersLink", props))
    answer_ok(body, link_fn)
    [ep] = endpoints_in(consumer, vpc_id)
    assert ep["ServiceName"] == newer["service_name"]
    tags = {t["Key"]: t["Value"] for t in ep["Tags"]}
    assert tags["privatelink-autowire:digest"] == newer["digest"] != pub.descriptor["digest"]

    # The same field added without the digest following it is refused: the digest covers it.
    tampered = {**newer, "future_field": "changed"}
    ssm.put_parameter(Name=name, Value=canonical(tampered), Type="String", Tier="Advanced",
                      Overwrite=True)
    other_vpc, other_subnets = build_consumer_vpc(consumer, CANDIDATE_AZ_IDS)
    props = {**link_props(pub, other_vpc, candidates(other_subnets)), "ServiceParameter": arn}
    failed = cfn_b.send(link_fn, cfn_b.event(link_fn, "Create", LINK, "OrdersLink", props))
    assert failed["Status"] == "FAILED", failed
    assert "digest does not match" in failed["Reason"], failed["Reason"]
    assert endpoints_in(consumer, other_vpc) == []


def test_two_links_share_the_alias_zone_and_the_last_one_out_deletes_it(
        link_fn, cfn_b, publish, auto_service, consumer, proxy, b_key):
    pub = publish(auto_service, "shared")
    vpc_id, subnets = build_consumer_vpc(consumer, CANDIDATE_AZ_IDS)
    links = {}
    for logical, label in [("OrdersLink", "api"), ("WebLink", "web")]:
        props = link_props(pub, vpc_id, candidates(subnets), AliasName=f"{label}.{pub.domain}")
        body = cfn_b.send(link_fn, cfn_b.event(link_fn, "Create", LINK, logical, props))
        answer_ok(body, link_fn)
        links[logical] = (props, body)
    zones = zones_of(consumer, vpc_id)
    assert list(zones) == [pub.domain], zones
    zone_id = zones[pub.domain]
    orders, web = (link_id(cfn_b.stack_id, n, vpc_id) for n in ("OrdersLink", "WebLink"))
    tags = zone_tags(consumer, zone_id)
    assert tags[ALIAS_ZONE_TAG] == "shared"
    assert (tags[MEMBER_TAG + orders], tags[MEMBER_TAG + web]) == (
        f"api.{pub.domain}", f"web.{pub.domain}")
    assert set(cnames(consumer, zone_id)) == {f"api.{pub.domain}", f"web.{pub.domain}"}

    props, body = links["OrdersLink"]
    proxy.reset_calls()
    deleted = cfn_b.send(link_fn, cfn_b.event(link_fn, "Delete", LINK, "OrdersLink", props,
                                              physical_id=body["PhysicalResourceId"]))
    answer_ok(deleted, link_fn)
    assert zones_of(consumer, vpc_id) == {pub.domain: zone_id}, "the web link still uses it"
    assert set(cnames(consumer, zone_id)) == {f"web.{pub.domain}"}
    assert MEMBER_TAG + orders not in zone_tags(consumer, zone_id)
    assert "DeleteHostedZone" not in b_mutating(proxy, b_key)

    props, body = links["WebLink"]
    deleted = cfn_b.send(link_fn, cfn_b.event(link_fn, "Delete", LINK, "WebLink", props,
                                              physical_id=body["PhysicalResourceId"]))
    answer_ok(deleted, link_fn)
    assert zones_of(consumer, vpc_id) == {}, "the last one out deletes it"


def test_a_public_alias_zone_is_refused_before_anything_is_made(
        link_fn, cfn_b, publish, auto_service, consumer, proxy, b_key):
    pub = publish(auto_service, "public")
    vpc_id, subnets = build_consumer_vpc(consumer, CANDIDATE_AZ_IDS)
    public = bare_zone_id(build_public_zone(consumer, pub.domain))
    props = link_props(pub, vpc_id, candidates(subnets), AliasHostedZoneId=public)
    proxy.reset_calls()
    body = cfn_b.send(link_fn, cfn_b.event(link_fn, "Create", LINK, "OrdersLink", props))
    assert body["Status"] == "FAILED", body
    assert body["Reason"].startswith(
        f"property AliasHostedZoneId: {public} ({pub.domain}) is a public zone"), body["Reason"]
    # Checked with the other properties, before any write (the link record included).
    assert b_mutating(proxy, b_key) == []
    assert endpoints_in(consumer, vpc_id) == []
    assert owned_groups(consumer, link_id(cfn_b.stack_id, "OrdersLink", vpc_id)) == []
    assert cnames(consumer, public) == {}


def test_an_unsupported_request_type_gets_one_failed_answer_naming_it(
        link_fn, cfn_b, publish, auto_service, consumer, proxy, b_key):
    pub = publish(auto_service, "import")
    vpc_id, subnets = build_consumer_vpc(consumer, CANDIDATE_AZ_IDS)
    e = cfn_b.event(link_fn, "Create", LINK, "OrdersLink",
                    link_props(pub, vpc_id, candidates(subnets)))
    e["RequestType"] = "Import"
    proxy.reset_calls()
    body = cfn_b.send(link_fn, e)
    assert body["Status"] == "FAILED", body
    assert body["Reason"].startswith("request type 'Import' is not supported"), body["Reason"]
    assert b_mutating(proxy, b_key) == [], "nothing was touched"
