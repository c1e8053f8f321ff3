"""The crash matrix (crash_matrix.py) of `Custom::ServicePublication`, through the real provider
binary: a publication that adds allowed principals and keeps a connection notification, and one
with a private DNS name (verified through continuations)."""

from __future__ import annotations

import json

import pytest

from binary_support import bare_zone_id, record_sets
from crash_matrix import (
    AZ_IDS,
    RUN,
    SERVICE_TIMEOUT,
    TEN_SECOND_POLL_TIMEOUT_S,
    Scenario,
    World,
    check,
    tags_of,
)
from eventbed import vpce_topic
from testbed_fixtures import CONSUMER, build_provider_network, build_public_zone

SERVICES = "/privatelink-autowire/services"


def parameters(session, names: list[str]) -> dict:
    """{name: {value, tier, tags}} of those of `names` that exist."""
    ssm = session.client("ssm")
    out = {}
    for p in ssm.get_parameters(Names=names)["Parameters"]:
        tags = ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=p["Name"])
        meta = ssm.describe_parameters(
            ParameterFilters=[{"Key": "Name", "Values": [p["Name"]]}])["Parameters"]
        out[p["Name"]] = {"value": json.loads(p["Value"]), "tags": tags_of(tags["TagList"]),
                          "tier": [m.get("Tier") for m in meta]}
    return out


def service_state(session, service_id: str) -> dict:
    """What a publication may change on its endpoint service."""
    ec2 = session.client("ec2")
    config = ec2.describe_vpc_endpoint_service_configurations(
        ServiceIds=[service_id])["ServiceConfigurations"][0]
    principals = ec2.describe_vpc_endpoint_service_permissions(
        ServiceId=service_id)["AllowedPrincipals"]
    notifications = ec2.describe_vpc_endpoint_connection_notifications(
        Filters=[{"Name": "service-id", "Values": [service_id]}])["ConnectionNotificationSet"]
    return {
        "principals": [p["Principal"] for p in principals],
        "notifications": [(n["ConnectionNotificationArn"], n["ConnectionEvents"],
                           n["ConnectionNotificationState"]) for n in notifications],
        "private_dns_name": config.get("PrivateDnsName"),
        "verification": (config.get("PrivateDnsNameConfiguration") or {}).get("State"),
    }


def publication_world(provider, label: str, dns: bool) -> World:
    key = f"{label}-{RUN}"
    name = f"{SERVICES}/{key}"
    service = build_provider_network(provider, AZ_IDS, listeners=[("TLS", 443)],
                                     acceptance_required=not dns)
    props = {"ServiceId": service.service_id, "ServiceKey": key, "ServiceTimeout": SERVICE_TIMEOUT,
             "TlsNames": [f"*.{key}.example.com"]}
    zone = None
    if dns:
        domain = f"{key}.example.com"
        zone = bare_zone_id(build_public_zone(provider, domain))
        props.update(PrivateDnsName=f"orders.{domain}", PublicHostedZoneId=zone)
    else:  # acceptance by policy: principals added, a connection notification kept
        props.update(AllowedAccounts=[CONSUMER])

    def inventory() -> dict:
        found = {"parameters": parameters(provider, [name, f"{name}/policy"]),
                 "service": service_state(provider, service.service_id)}
        if zone:
            found["txt"] = record_sets(provider, zone, "TXT")
        return found

    subs = {key: "<key>"} if zone is None else {key: "<key>", zone: "<zone>"}
    return World(props, inventory, subs)


@pytest.fixture(scope="module")
def topic(provider):
    return vpce_topic(provider)[0]


def test_publication_crash_matrix(provider, topic, emulator_url, capture, record_property):
    check(Scenario("publication", "provider", provider, "Custom::ServicePublication",
                   "Publication", lambda label: publication_world(provider, label, dns=False),
                   env={"CONNECTION_NOTIFICATION_TOPIC_ARN": topic}),
          emulator_url, capture, record_property)


def test_publication_with_private_dns_crash_matrix(provider, emulator_url, capture,
                                                   record_property):
    check(Scenario("publication+dns", "provider", provider, "Custom::ServicePublication",
                   "Publication", lambda label: publication_world(provider, label, dns=True),
                   timeout_s=TEN_SECOND_POLL_TIMEOUT_S),
          emulator_url, capture, record_property)


