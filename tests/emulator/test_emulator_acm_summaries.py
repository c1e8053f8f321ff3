"""ACM ListCertificates: summaries carry SubjectAlternativeNameSummaries, as ACM's do."""

from __future__ import annotations

import uuid


def test_summaries_list_every_name_of_the_certificate(provider):
    acm = provider.client("acm")
    domain = f"sum-{uuid.uuid4().hex[:8]}.example.com"
    arn = acm.request_certificate(
        DomainName=domain,
        SubjectAlternativeNames=[f"*.{domain}", f"api.{domain}"],
        ValidationMethod="DNS",
    )["CertificateArn"]
    summaries = acm.list_certificates(CertificateStatuses=["PENDING_VALIDATION", "ISSUED"])
    mine = [s for s in summaries["CertificateSummaryList"] if s["CertificateArn"] == arn]
    assert len(mine) == 1
    s = mine[0]
    assert s["DomainName"] == domain
    assert set(s["SubjectAlternativeNameSummaries"]) == {domain, f"*.{domain}", f"api.{domain}"}
    assert s["HasAdditionalSubjectAlternativeNames"] is False
    assert s["Status"] == "PENDING_VALIDATION"
    assert "DomainValidationOptions" not in s


def test_a_status_filter_leaves_out_other_certificates(provider):
    acm = provider.client("acm")
    domain = f"sum-{uuid.uuid4().hex[:8]}.example.com"
    arn = acm.request_certificate(DomainName=domain, ValidationMethod="DNS")["CertificateArn"]
    issued = acm.list_certificates(CertificateStatuses=["ISSUED"])["CertificateSummaryList"]
    assert arn not in [s["CertificateArn"] for s in issued]
