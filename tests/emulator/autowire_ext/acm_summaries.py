"""ACM ListCertificates summaries shaped as ACM returns them.

AWS behaviour (ACM API reference, CertificateSummary): each summary names the certificate's
other names in `SubjectAlternativeNameSummaries` (at most 100, with
`HasAdditionalSubjectAlternativeNames` telling whether more exist). moto builds summaries from
DescribeCertificate's `SubjectAlternativeNames`, a member the summary shape does not have, so an
SDK sees no alternative names at all.
"""

from __future__ import annotations

from moto.acm.responses import AWSCertificateManagerResponse
from moto.core.responses import ActionResult

from ._common import wrap

# The most names a summary lists (ACM API reference, CertificateSummary).
MAX_SUMMARY_NAMES = 100


def _summary(cert: dict) -> dict:
    names = list(cert.pop("SubjectAlternativeNames", None) or [])
    out = {k: v for k, v in cert.items() if k != "DomainValidationOptions"}
    out["SubjectAlternativeNameSummaries"] = names[:MAX_SUMMARY_NAMES]
    out["HasAdditionalSubjectAlternativeNames"] = len(names) > MAX_SUMMARY_NAMES
    return out


def _list_certificates(original):
    def list_certificates(self) -> ActionResult:
        res = original(self)
        result = res.result if isinstance(res, ActionResult) else None
        if isinstance(result, dict) and "CertificateSummaryList" in result:
            result["CertificateSummaryList"] = [
                _summary(dict(c)) for c in result["CertificateSummaryList"]
            ]
        return res

    return list_certificates


def apply() -> str:
    wrap(AWSCertificateManagerResponse, "list_certificates", _list_certificates)
    return "acm-summaries"
