"""Behaviour 9: Route 53 change batches are transactional, with AWS's InvalidChangeBatch errors."""

import itertools

import pytest
from botocore.exceptions import ClientError

from testbed_fixtures import aws_error, build_public_zone, upsert_record

DNS_ACCOUNT = "555555555555"  # zones of these tests only
_domains = itertools.count(1)


@pytest.fixture
def dns(account):
    return account(DNS_ACCOUNT)


@pytest.fixture
def zone(dns):
    """(zone_id, domain) of a fresh public zone."""
    domain = f"batch{next(_domains)}.r53.example.org"
    return build_public_zone(dns, domain), domain


def change(action, name, rtype, values, ttl=300):
    return {
        "Action": action,
        "ResourceRecordSet": {
            "Name": name,
            "Type": rtype,
            "TTL": ttl,
            "ResourceRecords": [{"Value": v} for v in values],
        },
    }


def submit(session, zone_id, *changes):
    return session.client("route53").change_resource_record_sets(
        HostedZoneId=zone_id, ChangeBatch={"Changes": list(changes)}
    )


def refused(session, zone_id, *changes):
    """(code, message) of a refused batch, which must be an HTTP 400."""
    with pytest.raises(ClientError) as e:
        submit(session, zone_id, *changes)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return aws_error(e)


def records(session, zone_id):
    """{(name, type): (ttl, sorted values)} of the zone, SOA and NS left out."""
    sets = session.client("route53").list_resource_record_sets(HostedZoneId=zone_id)
    return {
        (r["Name"], r["Type"]): (r.get("TTL"), sorted(v["Value"] for v in r["ResourceRecords"]))
        for r in sets["ResourceRecordSets"]
        if r["Type"] not in ("SOA", "NS")
    }


def test_create_of_an_existing_record_set_is_refused(dns, zone):
    zone_id, domain = zone
    name = f"x.{domain}"
    submit(dns, zone_id, change("CREATE", name, "CNAME", ["one.example.net"]))
    assert refused(dns, zone_id, change("CREATE", name, "CNAME", ["two.example.net"])) == (
        "InvalidChangeBatch",
        f"[Tried to create resource record set [name='{name}.', type='CNAME'] but it already "
        "exists]",
    )
    # Names compare without regard to case or the final dot.
    code, _ = refused(dns, zone_id, change("CREATE", f"X.{domain}.", "CNAME", ["t.example.net"]))
    assert code == "InvalidChangeBatch"
    assert records(dns, zone_id) == {(f"{name}.", "CNAME"): (300, ["one.example.net"])}


def test_same_name_with_another_type_is_a_separate_record_set(dns, zone):
    zone_id, domain = zone
    submit(dns, zone_id, change("CREATE", f"m.{domain}", "A", ["192.0.2.1"]))
    submit(dns, zone_id, change("CREATE", f"m.{domain}", "TXT", ['"hello"']))
    assert set(records(dns, zone_id)) == {(f"m.{domain}.", "A"), (f"m.{domain}.", "TXT")}


def test_delete_of_a_missing_record_set_is_refused(dns, zone):
    zone_id, domain = zone
    assert refused(dns, zone_id, change("DELETE", f"gone.{domain}", "A", ["192.0.2.1"])) == (
        "InvalidChangeBatch",
        f"[Tried to delete resource record set [name='gone.{domain}.', type='A'] but it was not "
        "found]",
    )


def test_delete_needs_the_current_ttl_and_values(dns, zone):
    zone_id, domain = zone
    name = f"d.{domain}"
    submit(dns, zone_id, change("CREATE", name, "A", ["192.0.2.1", "192.0.2.2"], ttl=60))
    mismatch = (
        "InvalidChangeBatch",
        f"[Tried to delete resource record set [name='{name}.', type='A'] but the values "
        "provided do not match the current values]",
    )
    assert refused(dns, zone_id, change("DELETE", name, "A", ["192.0.2.1"], ttl=60)) == mismatch
    assert refused(dns, zone_id, change("DELETE", name, "A", ["192.0.2.1", "192.0.2.2"])) == (
        mismatch
    )
    assert (f"{name}.", "A") in records(dns, zone_id)

    # The values in another order are the same values.
    submit(dns, zone_id, change("DELETE", name, "A", ["192.0.2.2", "192.0.2.1"], ttl=60))
    assert records(dns, zone_id) == {}


def test_name_outside_the_zone_is_refused(dns, zone):
    zone_id, domain = zone
    outside = change("CREATE", "www.elsewhere.example.com", "A", ["192.0.2.1"])
    assert refused(dns, zone_id, outside) == (
        "InvalidChangeBatch",
        f"[RRSet with DNS name www.elsewhere.example.com. is not permitted in zone {domain}.]",
    )
    # Ending with the zone's name is not enough: the name must be the zone's or below it.
    lookalike = f"www.not{domain}"
    assert refused(dns, zone_id, change("CREATE", lookalike, "A", ["192.0.2.1"])) == (
        "InvalidChangeBatch",
        f"[RRSet with DNS name {lookalike}. is not permitted in zone {domain}.]",
    )
    # The zone's own name is fine.
    submit(dns, zone_id, change("CREATE", domain, "TXT", ['"apex"']))


def test_a_failing_change_rejects_the_whole_batch(dns, zone):
    zone_id, domain = zone
    submit(dns, zone_id, change("CREATE", f"keep.{domain}", "A", ["192.0.2.9"]))
    before = records(dns, zone_id)
    code, message = refused(
        dns,
        zone_id,
        change("CREATE", f"new.{domain}", "A", ["192.0.2.1"]),
        change("UPSERT", f"keep.{domain}", "A", ["192.0.2.10"]),
        change("DELETE", f"missing.{domain}", "A", ["192.0.2.1"]),
        change("CREATE", "x.example.com", "A", ["192.0.2.1"]),
    )
    assert code == "InvalidChangeBatch"
    # Every failing change is reported, in order, in one bracketed list.
    assert message == (
        f"[Tried to delete resource record set [name='missing.{domain}.', type='A'] but it was "
        f"not found, RRSet with DNS name x.example.com. is not permitted in zone {domain}.]"
    )
    assert records(dns, zone_id) == before


def test_changes_see_the_earlier_changes_of_their_batch(dns, zone):
    zone_id, domain = zone
    name = f"swap.{domain}"
    submit(dns, zone_id, change("CREATE", name, "CNAME", ["old.example.net"]))
    # Delete then create the same record set in one batch: a replacement.
    submit(
        dns,
        zone_id,
        change("DELETE", name, "CNAME", ["old.example.net"]),
        change("CREATE", name, "CNAME", ["new.example.net"]),
    )
    assert records(dns, zone_id) == {(f"{name}.", "CNAME"): (300, ["new.example.net"])}
    # Deleting the same record set twice in one batch fails on the second.
    _, message = refused(
        dns,
        zone_id,
        change("DELETE", name, "CNAME", ["new.example.net"]),
        change("DELETE", name, "CNAME", ["new.example.net"]),
    )
    assert message.endswith("type='CNAME'] but it was not found]")
    assert records(dns, zone_id) == {(f"{name}.", "CNAME"): (300, ["new.example.net"])}


def test_upsert_creates_or_replaces(dns, zone):
    zone_id, domain = zone
    name = f"u.{domain}"
    upsert_record(dns, zone_id, name, "TXT", ['"v1"'])
    assert records(dns, zone_id) == {(f"{name}.", "TXT"): (300, ['"v1"'])}
    upsert_record(dns, zone_id, name, "TXT", ['"v2"', '"v3"'], ttl=60)
    assert records(dns, zone_id) == {(f"{name}.", "TXT"): (60, ['"v2"', '"v3"'])}


def test_a_change_without_ttl_or_values_is_invalid_input(dns, zone):
    zone_id, domain = zone
    with pytest.raises(ClientError) as e:
        submit(
            dns,
            zone_id,
            {"Action": "DELETE", "ResourceRecordSet": {"Name": f"n.{domain}", "Type": "A"}},
        )
    assert aws_error(e) == (
        "InvalidInput",
        "Invalid request: Expected exactly one of [AliasTarget, all of [TTL, and "
        "ResourceRecords], or TrafficPolicyInstanceId], but found none in Change with "
        f"[Action=DELETE, Name=n.{domain}, Type=A, SetIdentifier=null]",
    )


def test_unknown_zone(dns):
    with pytest.raises(ClientError) as e:
        submit(dns, "Z0000000000000000000", change("CREATE", "a.example.com", "A", ["192.0.2.1"]))
    assert aws_error(e)[0] == "NoSuchHostedZone"
