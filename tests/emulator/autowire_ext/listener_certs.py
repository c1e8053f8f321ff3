"""Certificates on ELBv2 listeners as AWS handles them.

AWS behaviour (ELB API reference: CreateListener, ModifyListener, AddListenerCertificates,
RemoveListenerCertificates, DescribeListenerCertificates; "SSL certificates for your
Application Load Balancer" / "Server certificates" for NLB TLS listeners):

- an HTTPS or TLS listener has exactly one *default* certificate, given in `Certificates` of
  CreateListener (required) or ModifyListener (replaces it). Errors, all HTTP 400:
  none given: `ValidationError` / `A certificate must be specified for <HTTPS|TLS> listeners`;
  more than one: `InvalidConfigurationRequest` /
  `You must provide a list containing exactly one certificate if the listener protocol is
  <protocol>.` (moto's wording, as moto uses it for HTTPS); `IsDefault` set on any
  certificate of these calls: `ValidationError` /
  `You cannot set the isDefault parameter for a certificate.`; a certificate on any other
  protocol: `ValidationError` / `A certificate cannot be specified for <protocol> listeners`;
- every certificate given to CreateListener, ModifyListener or AddListenerCertificates must
  be an ACM certificate of the caller's account and region whose status is ISSUED (imported
  ones are), or an existing IAM server certificate. Otherwise (unknown, another account's,
  still PENDING_VALIDATION, FAILED, EXPIRED): `CertificateNotFound` /
  `Certificate '<arn>' not found`;
- the certificate list (AddListenerCertificates) holds extra certificates for SNI. A load
  balancer may have at most 25 certificates, not counting default certificates ("Quotas for
  your Network Load Balancers": Certificates per Network Load Balancer, 25; the ALB page says
  "excluding default certificates"): here the distinct ARNs in the certificate lists of all its
  listeners (*modelling choice*: AWS does not say how a certificate on two listeners counts).
  The owner's quota can be made smaller (quotas.py, `listener_certificates`). A call that would
  go beyond it adds nothing: `TooManyCertificates` (HTTP 400) /
  `You've reached the limit on the number of certificates per load balancer` (the API
  reference's description of the error, as moto words it; AWS's live text was not found).
  DescribeListenerCertificates returns the default with `IsDefault=true`, then the list with
  `IsDefault=false` (a certificate in both shows twice, as AWS documents). DescribeListeners
  shows only the default. Adding to a listener that is not HTTPS/TLS: `ValidationError` /
  `A certificate cannot be specified for <protocol> listeners` (*emulator wording*, borrowed
  from CreateListener);
- RemoveListenerCertificates cannot remove the default: `OperationNotPermitted` /
  `Default certificate cannot be removed.` (wording as quoted in public reports of the
  error; the final period is a guess); removing one the listener does not have:
  `CertificateNotFound` / `Certificate '<arn>' not found`. Nothing is removed unless every
  certificate of the call can be.

moto (5.2.5) accepts listeners without certificates and any certificate ARN that exists in
ACM whatever its status, keeps the SNI list and the default in one list (so the default can
be removed and DescribeListeners shows every certificate), and refuses ModifyListener to TLS.
"""

from __future__ import annotations

import re
from typing import Any, Iterator

from moto.core.responses import ActionResult, EmptyResult
from moto.elbv2.exceptions import (
    ELBClientError,
    ListenerNotFoundError,
    LoadBalancerNotFoundError,
    TooManyCertificatesError,
)
from moto.elbv2.responses import ELBV2Response
from moto.elbv2.ssl_policies import SSL_POLICIES

from ._common import LOCK, partition_of, wrap
from .quotas import listener_certificates_quota

SECURE_PROTOCOLS = ("HTTPS", "TLS")

# Protocols moto's own ModifyListener accepts; the others are set here after it ran.
_MOTO_MODIFY_PROTOCOLS = ("HTTP", "HTTPS", "TCP")

_IAM_CERT = re.compile(r"^arn:aws(?:-cn|-us-gov)?:iam::(\d{12}):server-certificate/")


def _error(code: str, message: str) -> ELBClientError:
    return ELBClientError(code, message)


def certificate_not_found(arn: str) -> ELBClientError:
    return _error("CertificateNotFound", f"Certificate '{arn}' not found")


# ---------------------------------------------------------------- listener state


def sni_certificates(listener: Any) -> list[str]:
    """The listener's certificate list (non-default certificates)."""
    return listener.__dict__.setdefault("autowire_sni_certificates", [])


def set_default_certificate(listener: Any, arn: str | None) -> None:
    listener.certificate = arn
    listener.certificates = [arn] if arn else []


def listener_certificate_arns(listener: Any) -> list[str]:
    """Every certificate a listener uses: its default, then its certificate list."""
    default = getattr(listener, "certificate", None)
    return ([default] if default else []) + list(sni_certificates(listener))


def elbv2_backends_in_region(region: str) -> Iterator[tuple[str, Any]]:
    from moto.elbv2.models import elbv2_backends

    for account_id, account_backends in list(elbv2_backends.items()):
        backend = dict.get(account_backends, region)
        if backend is not None:
            yield account_id, backend


def load_balancers_using(certificate_arn: str, region: str) -> list[str]:
    """ARNs of the load balancers (any account, `region`) with a listener using the cert."""
    users = []
    for _, backend in elbv2_backends_in_region(region):
        for lb in list(backend.load_balancers.values()):
            if any(
                certificate_arn in listener_certificate_arns(listener)
                for listener in list(lb.listeners.values())
            ):
                users.append(lb.arn)
    return sorted(set(users))


# ---------------------------------------------------------------- checks


def require_usable_certificate(backend: Any, arn: str) -> None:
    """The certificate exists in the caller's account and region and may be served."""
    m = _IAM_CERT.match(arn or "")
    if m:
        from moto.iam.models import iam_backends

        if m.group(1) == backend.account_id:
            iam = iam_backends[backend.account_id][partition_of(backend.region_name)]
            if iam.get_certificate_by_arn(arn) is not None:
                return
        raise certificate_not_found(arn)

    from moto.acm.models import acm_backends

    bundle = acm_backends[backend.account_id][backend.region_name]._certificates.get(arn)
    if bundle is None:
        raise certificate_not_found(arn)
    bundle.check()  # settles DNS validation (autowire_ext.acm) before we look at the status
    if bundle.status != "ISSUED":
        raise certificate_not_found(arn)


def _arns(certificates: list[dict[str, Any]]) -> list[str]:
    return [c.get("CertificateArn") or "" for c in certificates]


def _no_is_default(certificates: list[dict[str, Any]]) -> None:
    if any(c.get("IsDefault") is not None for c in certificates):
        raise _error("ValidationError", "You cannot set the isDefault parameter for a certificate.")


def _check_default_certificates(
    backend: Any, protocol: str, certificates: list[dict[str, Any]], required: bool
) -> None:
    """Certificates of CreateListener / ModifyListener for a listener of `protocol`."""
    _no_is_default(certificates)
    if protocol not in SECURE_PROTOCOLS:
        if certificates:
            raise _error(
                "ValidationError", f"A certificate cannot be specified for {protocol} listeners"
            )
        return
    if not certificates:
        if required:
            # AWS's HTTPS wording (seen in public reports); the TLS one is assumed to match.
            raise _error(
                "ValidationError", f"A certificate must be specified for {protocol} listeners"
            )
        return
    if len(certificates) > 1:
        # moto's wording for HTTPS (its ModifyListener); AWS's exact text was not found.
        raise _error(
            "InvalidConfigurationRequest",
            "You must provide a list containing exactly one certificate if the listener "
            f"protocol is {protocol}.",
        )
    require_usable_certificate(backend, _arns(certificates)[0])


def _listener(backend: Any, arn: str) -> Any:
    for lb in list(backend.load_balancers.values()):
        listener = lb.listeners.get(arn)
        if listener is not None:
            return listener
    raise ListenerNotFoundError()


def _listed_on_load_balancer(backend: Any, listener: Any) -> set[str]:
    """The certificates in the certificate lists of every listener of `listener`'s load
    balancer (what its quota counts)."""
    lb = backend.load_balancers.get(listener.load_balancer_arn)
    listeners = list(lb.listeners.values()) if lb is not None else [listener]
    return {arn for other in listeners for arn in sni_certificates(other)}


# ---------------------------------------------------------------- responses


def _create_listener(original):
    def create_listener(self) -> ActionResult:
        backend = self.elbv2_backend
        if self._get_param("LoadBalancerArn") not in backend.load_balancers:
            raise LoadBalancerNotFoundError()
        protocol = str(self._get_param("Protocol") or "").upper()
        certificates = self._get_param("Certificates", []) or []
        with LOCK:
            _check_default_certificates(backend, protocol, certificates, required=True)
            return original(self)

    return create_listener


def modify_listener(self) -> ActionResult:
    backend = self.elbv2_backend
    arn = self._get_param("ListenerArn")
    port = self._get_param("Port")
    protocol = self._get_param("Protocol")
    ssl_policy = self._get_param("SslPolicy")
    certificates = self._get_param("Certificates", []) or []
    default_actions = self._get_param("DefaultActions", []) or []
    if ssl_policy is not None and ssl_policy not in SSL_POLICIES:
        raise _error("SSLPolicyNotFound", f"Policy {ssl_policy} not found")
    with LOCK:
        listener = _listener(backend, arn)
        new_protocol = str(protocol or listener.protocol).upper()
        _check_default_certificates(backend, new_protocol, certificates, required=False)
        if new_protocol in SECURE_PROTOCOLS and not certificates and not listener.certificate:
            raise _error(
                "ValidationError", f"A certificate must be specified for {new_protocol} listeners"
            )
        saved = (
            listener.certificate,
            list(listener.certificates),
            list(sni_certificates(listener)),
            listener.protocol,
        )
        try:
            if new_protocol not in SECURE_PROTOCOLS:
                set_default_certificate(listener, None)
                sni_certificates(listener).clear()
            elif certificates:
                set_default_certificate(listener, _arns(certificates)[0])
            moto_protocol = protocol if protocol in _MOTO_MODIFY_PROTOCOLS else None
            backend.modify_listener(arn, port, moto_protocol, ssl_policy, [], default_actions)
            listener.protocol = new_protocol
        except Exception:
            listener.certificate, listener.certificates = saved[0], saved[1]
            sni_certificates(listener)[:] = saved[2]
            listener.protocol = saved[3]
            raise
    return ActionResult({"Listeners": [listener]})


def add_listener_certificates(self) -> ActionResult:
    backend = self.elbv2_backend
    certificates = self._get_param("Certificates", []) or []
    with LOCK:
        listener = _listener(backend, self._get_param("ListenerArn"))
        _no_is_default(certificates)
        if listener.protocol not in SECURE_PROTOCOLS:
            # Emulator wording: AWS's CreateListener message for the same mistake.
            raise _error(
                "ValidationError",
                f"A certificate cannot be specified for {listener.protocol} listeners",
            )
        for arn in _arns(certificates):
            require_usable_certificate(backend, arn)
        sni = sni_certificates(listener)
        new = [a for a in dict.fromkeys(_arns(certificates)) if a not in sni]
        before = _listed_on_load_balancer(backend, listener)
        after = before | set(new)
        if len(after) > max(len(before), listener_certificates_quota(backend.account_id)):
            raise TooManyCertificatesError()
        sni.extend(new)
        listed = [{"CertificateArn": a, "IsDefault": False} for a in sni]
    return ActionResult({"Certificates": listed})


def remove_listener_certificates(self) -> EmptyResult:
    backend = self.elbv2_backend
    certificates = self._get_param("Certificates", []) or []
    with LOCK:
        listener = _listener(backend, self._get_param("ListenerArn"))
        remaining = list(sni_certificates(listener))
        for arn in _arns(certificates):
            if arn in remaining:
                remaining.remove(arn)
            elif arn and arn == listener.certificate:
                # Wording as quoted in public reports of this error; final period assumed.
                raise _error("OperationNotPermitted", "Default certificate cannot be removed.")
            else:
                raise certificate_not_found(arn)
        sni_certificates(listener)[:] = remaining
    return EmptyResult()


def describe_listener_certificates(self) -> ActionResult:
    with LOCK:
        listener = _listener(self.elbv2_backend, self._get_param("ListenerArn"))
        listed = []
        if listener.certificate:
            listed.append({"CertificateArn": listener.certificate, "IsDefault": True})
        listed += [{"CertificateArn": a, "IsDefault": False} for a in sni_certificates(listener)]
    return ActionResult({"Certificates": listed})


def apply() -> str:
    wrap(ELBV2Response, "create_listener", _create_listener)
    for handler in (
        modify_listener,
        add_listener_certificates,
        remove_listener_certificates,
        describe_listener_certificates,
    ):
        setattr(ELBV2Response, handler.__name__, handler)
    return "listener-certificates"
