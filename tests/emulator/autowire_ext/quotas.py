"""Account quotas AWS enforces and the test bed needs small: ACM certificate requests per year
and certificates per load balancer, each settable per account over HTTP.

AWS behaviour:

- ACM (ACM User Guide, "Quotas"; the quotas apply per account and Region). "Number of ACM
  certificates per year (last 365 days)": 5,000 by default (twice the 2,500 of "Number of ACM
  certificates"); certificates signed by a CA of AWS Private CA do not count. Every certificate
  RequestCertificate makes counts, also once it has been deleted (or has expired): ACM counts
  requests, not certificates held. An idempotent repeat (the same IdempotencyToken within the
  hour ACM keeps it, the same tags) returns the earlier ARN and counts nothing. A request over
  the quota fails with `LimitExceededException` (HTTP 400) /
  `Error: you have reached your limit of <n> certificates in the last year.` (the live API's
  wording as quoted in public reports, e.g. with n = 20 for new accounts; the API reference
  documents the code only). The check comes after moto's own request validation. Not
  modelled: the 2,500 certificates an account may hold at a time, the window sliding (nothing
  leaves the count while the emulator runs), quotas of imported certificates.
- ELBv2 ("Quotas for your Network Load Balancers" / "... Application Load Balancers"):
  certificates per load balancer, not counting default certificates: 25, per account and
  Region. Enforced by listener_certs (AddListenerCertificates: `TooManyCertificates`).

The test bed's default is AWS's; a test sets a smaller one for an account (all Regions):

- `POST /_autowire/quotas` with `{"account": "<12 digits>", "acm_certificates": <n>,
  "listener_certificates": <n>}` (at least one of the two; a non-negative integer, or null for
  AWS's default) answers 200 with the account's record (as GET with `?account=`); a body that
  is not such an object is a 400 `{"error": "..."}`;
- `GET /_autowire/quotas?account=<acct>` answers `{"account", "acm_certificates",
  "listener_certificates", "acm_certificates_requested": {"<region>": <count>}}` with the
  quotas in force; `GET /_autowire/quotas` answers `{"defaults": {"acm_certificates": 5000,
  "listener_certificates": 25}, "accounts": {"<acct>": <record>, ...}}` for every account with
  a setting or a request counted;
- any other method: 405.

To let an account request k more certificates, set `acm_certificates` to its
`acm_certificates_requested` (in the Region used) + k.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs

from moto.acm.models import AWSCertificateManagerBackend
from moto.core.exceptions import AWSError

from ._common import LOCK, http_answer, http_json_body, http_method_not_allowed, wrap

DEFAULTS = {"acm_certificates": 5000, "listener_certificates": 25}

_ACCOUNT = re.compile(r"^\d{12}$")
_settings: dict[str, dict[str, int]] = {}  # account -> {quota name: value}
_acm_requested: dict[str, dict[str, int]] = {}  # account -> {region: certificates requested}


def quota(account_id: str, name: str) -> int:
    """The quota `name` (a key of DEFAULTS) in force for `account_id`."""
    with LOCK:
        return _settings.get(account_id, {}).get(name, DEFAULTS[name])


def listener_certificates_quota(account_id: str) -> int:
    return quota(account_id, "listener_certificates")


def record(account_id: str) -> dict[str, Any]:
    with LOCK:
        return {
            "account": account_id,
            **{name: quota(account_id, name) for name in DEFAULTS},
            "acm_certificates_requested": dict(_acm_requested.get(account_id, {})),
        }


def set_quotas(account_id: str, values: dict[str, int | None]) -> None:
    with LOCK:
        settings = _settings.setdefault(account_id, {})
        for name, value in values.items():
            if value is None:
                settings.pop(name, None)
            else:
                settings[name] = value


# ---------------------------------------------------------------- ACM


class LimitExceededException(AWSError):
    TYPE = "LimitExceededException"


def _idempotent_repeat(backend: Any, token: str | None, tags: Any) -> bool:
    """Does moto answer this request with an earlier certificate (and count nothing)?"""
    if token is None:
        return False
    arn = backend._get_arn_from_idempotency_token(token)
    if arn is None:
        return False
    bundle = backend._certificates.get(arn)
    if bundle is None:  # deleted since: moto would fail on it; it is a new request
        del backend._idempotency_tokens[token]
        return False
    return bundle.tags.equals(tags)


def _request_certificate(original):
    def request_certificate(
        self,
        domain_name: str,
        idempotency_token: str | None,
        subject_alt_names: list[str] | None,
        tags: Any,
        cert_authority_arn: str | None = None,
        cert_options: dict[str, Any] | None = None,
    ) -> str:
        def request() -> str:
            return original(
                self,
                domain_name,
                idempotency_token,
                subject_alt_names,
                tags,
                cert_authority_arn,
                cert_options,
            )

        with LOCK:
            if cert_authority_arn is not None or _idempotent_repeat(self, idempotency_token, tags):
                return request()
            counts = _acm_requested.setdefault(self.account_id, {})
            limit = quota(self.account_id, "acm_certificates")
            if counts.get(self.region_name, 0) >= limit:
                raise LimitExceededException(
                    f"Error: you have reached your limit of {limit} certificates in the last year."
                )
            arn = request()
            counts[self.region_name] = counts.get(self.region_name, 0) + 1
            return arn

    return request_certificate


# ---------------------------------------------------------------- HTTP

PATH = "/_autowire/quotas"


def _bad(message: str) -> tuple[str, bytes]:
    return http_answer("400 Bad Request", {"error": message})


def _post(environ: dict[str, Any]) -> tuple[str, bytes]:
    try:
        body = http_json_body(environ)
    except (ValueError, KeyError):
        return _bad("the body must be JSON")
    if not isinstance(body, dict):
        return _bad("the body must be a JSON object")
    account = body.pop("account", None)
    if not isinstance(account, str) or not _ACCOUNT.match(account):
        return _bad("account (a 12-digit account ID string) is required")
    unknown = sorted(set(body) - set(DEFAULTS))
    if unknown:
        return _bad(f"unknown quota(s): {', '.join(unknown)}; known: {', '.join(DEFAULTS)}")
    if not body:
        return _bad(f"name at least one quota: {', '.join(DEFAULTS)}")
    for name, value in body.items():
        valid = value is None or (isinstance(value, int) and not isinstance(value, bool))
        if not valid or (value is not None and value < 0):
            return _bad(f"{name} must be a non-negative integer or null")
    set_quotas(account, body)
    return http_answer("200 OK", record(account))


def _get(environ: dict[str, Any]) -> tuple[str, bytes]:
    query = parse_qs(environ.get("QUERY_STRING", ""))
    if "account" in query:
        account = query["account"][0]
        if not _ACCOUNT.match(account):
            return _bad("account must be a 12-digit account ID")
        return http_answer("200 OK", record(account))
    with LOCK:
        accounts = sorted(set(_settings) | set(_acm_requested))
        listed = {a: {k: v for k, v in record(a).items() if k != "account"} for a in accounts}
    return http_answer("200 OK", {"defaults": dict(DEFAULTS), "accounts": listed})


def handle(environ: dict[str, Any]) -> tuple[str, bytes] | None:
    """(status, JSON body) for a quotas request; None for any other path."""
    if environ.get("PATH_INFO", "") != PATH:
        return None
    method = environ.get("REQUEST_METHOD", "GET")
    if method == "GET":
        return _get(environ)
    if method == "POST":
        return _post(environ)
    return http_method_not_allowed()


def apply() -> str:
    wrap(AWSCertificateManagerBackend, "request_certificate", _request_certificate)
    return "quotas"
