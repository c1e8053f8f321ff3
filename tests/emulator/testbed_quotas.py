"""Client of the emulator's quota endpoint (autowire_ext/quotas.py, README behaviour 17): AWS's
default quotas, or smaller ones per account, so that a test can reach them with few resources.

- `set_quotas(url, account, acm_certificates=..., listener_certificates=...)`: sets the quotas
  named (None: back to AWS's default) → the account's record `{"account", "acm_certificates",
  "listener_certificates", "acm_certificates_requested": {region: count}}`;
- `account_quotas(url, account)`: that record;
- `allow_more_certificates(url, account, count, region="us-east-1")`: the account may request
  `count` more ACM certificates in `region`, then RequestCertificate fails with
  LimitExceededException → the record.
"""

from __future__ import annotations

from outbox import control_request

UNSET = object()


def _url(emulator_url: str) -> str:
    return f"{emulator_url}/_autowire/quotas"


def set_quotas(
    emulator_url: str, account: str, acm_certificates=UNSET, listener_certificates=UNSET
) -> dict:
    values = {"acm_certificates": acm_certificates, "listener_certificates": listener_certificates}
    body = {name: value for name, value in values.items() if value is not UNSET}
    return control_request(_url(emulator_url), {"account": account, **body})


def account_quotas(emulator_url: str, account: str) -> dict:
    return control_request(f"{_url(emulator_url)}?account={account}")


def allow_more_certificates(
    emulator_url: str, account: str, count: int, region: str = "us-east-1"
) -> dict:
    requested = account_quotas(emulator_url, account)["acm_certificates_requested"]
    return set_quotas(emulator_url, account, acm_certificates=requested.get(region, 0) + count)
