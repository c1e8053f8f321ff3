"""`make demo-seeds`: the two write-ups in ../shared/seeds/, deployed from examples/ on the
emulator through the real binaries, provider in account A (111111111111), consumer in account B
(222222222222).

Each example template is read as it is (seed_template): its AWS resources are made on the
emulator from their resolved Properties (seed_resources), its nested product gives the outputs
template.yaml would (seed_product), and each custom resource is a CloudFormation request to the
real provider or consumer binary its ServiceToken names (seed_stack), answered to a local
ResponseURL stand-in. A link's deploy gate invokes the real probe through the harness's relay.

1. Terraform write-up (seeds_terraform): provider.yaml, then consumer.yaml with the provider's
   DescriptorArn; the probe through the alias against loopback stand-ins for the NLB's TLS 443
   (a certificate for the service's TLS name, made here) and TCP 80.
2. CDK write-up (seeds_cdk): provider.yaml with a loopback HTTP server as its ALB (answering the
   template's fixed response), consumer.yaml, whose link admits the probe's group only and asks
   the probe before answering; the probe's scheduled input (the template's ProbeTargetsJson),
   whose body check "Hello from ALB!" must match.
3. Each write-up's troubleshooting: (a) the certificate-name mismatch, refused before deploy;
   (b) "Private DNS can't be enabled", refused with its fix; (c) the provider deleted while B is
   connected: the publication rejects B, then the endpoint service and the NLB go.
4. Every stack deleted, last first; every resource (and what the custom resources owned) gone.

No connection goes anywhere but 127.0.0.1: every name the probe meets is mapped to 127.0.0.1
(its input's `hosts`, or its environment for the gate) and DNS is off. Every step checks what it
shows; the demo exits non-zero at the first surprise.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import traceback
from contextlib import ExitStack
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "emulator"))
sys.path.append(str(HERE.parent / "binary"))  # probe_servers: loopback servers, a test PKI

from capture import CaptureServer  # noqa: E402
from demo import probe_binary  # noqa: E402
from demo_output import DemoFailure, expect, note, say  # noqa: E402
from lambda_harness import LambdaHarness  # noqa: E402
from probe_servers import TestPki  # noqa: E402
from seed_product import Product  # noqa: E402
from seeds_cdk import Cdk  # noqa: E402
from seeds_common import A, B, Seeds, leftovers  # noqa: E402
from seeds_terraform import Terraform  # noqa: E402
from testbed_fixtures import REGION, assume_account, function_env  # noqa: E402

# Long enough that no wait hands over to a continuation (the certificate's takes 10 s): one
# invocation per request keeps the output short; `make demo` shows the hand-overs.
FN_TIMEOUT_S = 30
PROBE_TIMEOUT_S = 30


def binary(name: str) -> str:
    variable = f"AUTOWIRE_{name.upper()}_BOOTSTRAP"
    path = probe_binary() if name == "probe" else os.environ.get(variable, "")
    expect(Path(path).is_file(), f"the {name} binary is not at {path!r}: build it "
                                 f"(`make demo-seeds` does) or set {variable}")
    return path


def functions(exits: ExitStack, a, b, url: str) -> dict:
    """The real provider (A), consumer (B) and probe (B) under the harness; the consumer's relay
    delivers its Lambda Invoke of the probe. Returns {ARN: harness}."""
    no_dns = {**function_env(b, url), "AUTOWIRE_PROBE_SYSTEM_DNS": "false"}
    probe = exits.enter_context(LambdaHarness(binary("probe"), "probe", env=no_dns,
                                              timeout_s=PROBE_TIMEOUT_S, account=B, region=REGION))
    made = [probe]
    for name, session in (("provider", a), ("consumer", b)):
        made.append(exits.enter_context(LambdaHarness(
            binary(name), name, env=function_env(session, url), timeout_s=FN_TIMEOUT_S,
            account=session.account_id, region=REGION, async_relay=True)))
    made[-1].relay.add(probe)
    return {fn.function_arn: fn for fn in made}


def delete_everything(seeds: Seeds) -> int:
    """Every stack still up, the last deployed first; then what the custom resources owned.
    Returns how many resources the stacks deleted, (c)'s included."""
    say("4. every stack deleted, the last deployed first")
    for stack in reversed(seeds.stacks):
        if stack.created:
            stack.delete()
    left = [item for stack in seeds.stacks for item in leftovers(stack)]
    for line in left:
        note(f"LEFT: {line}")
    expect(not left, f"{len(left)} things are left after the deletes")
    return sum(stack.deleted for stack in seeds.stacks)


def recap(tf: Terraform, cdk: Cdk, reports: dict, reasons: dict, deleted: int, t0: float) -> None:
    say("recap")
    for label, report in reports.items():
        s = report["summary"]
        note(f"{label} probe: {s['ok']} of {s['total']} targets ok")
    want = cdk.consumer.props["Product"]["Parameters"]["ProbeTargetsJson"]
    note(f"CDK body check: \"Hello from ALB!\" {'matched' if reports['CDK']['ok'] else 'MISSED'} "
         f"({'in' if 'Hello from ALB!' in want else 'NOT in'} consumer.yaml's ProbeTargetsJson)")
    for label, reason in reasons.items():
        note(f"{label}: FAILED before deploy: {reason}")
    note("(c) provider deleted while B was connected: B's endpoint rejected, then the service "
         "and the NLB deleted")
    note(f"{deleted} resources in {len(tf.seeds.stacks)} stacks deleted, nothing left; "
         f"{time.monotonic() - t0:.1f} s")


def main() -> int:
    t0 = time.monotonic()
    url = os.environ["AUTOWIRE_EMULATOR_URL"]
    a, b = assume_account(url, A), assume_account(url, B)
    with ExitStack() as exits:
        capture = exits.enter_context(CaptureServer())
        fns = functions(exits, a, b, url)
        by_name = {fn.function_name: arn for arn, fn in fns.items()}
        pki = TestPki(Path(exits.enter_context(tempfile.TemporaryDirectory(prefix="seeds-pki-"))),
                      name="privatelink-autowire demo CA")
        seeds = Seeds(a, b, capture, fns, Product(by_name), exits, pki)
        tf, cdk = Terraform(seeds), Cdk(seeds)
        say("1. the Terraform write-up, examples/terraform-writeup/")
        tf.deploy()
        say("2. the CDK write-up, examples/cdk-writeup/")
        cdk.deploy()
        reports = {"Terraform": tf.probe(), "CDK": cdk.probe()}
        say("3. each write-up's troubleshooting, met by the examples")
        reasons = {"(a) certificate name": tf.tls_mismatch(),
                   "(b) private DNS": cdk.private_dns()}
        cdk.delete_with_connections()
        deleted = delete_everything(seeds)
        tf.remove_existing_network()
        recap(tf, cdk, reports, reasons, deleted, t0)
    say("done: every step behaved as expected")
    return 0


def run() -> int:
    """main(), with any surprise (a failed check, an AWS or harness error) as exit status 1."""
    try:
        return main()
    except DemoFailure as failure:
        message = str(failure)
    except Exception as error:  # noqa: BLE001 (an AWS error, a harness failure, a timeout)
        traceback.print_exc()
        message = f"{type(error).__name__}: {error}"
    print(f"\nDEMO FAILED: {message}", file=sys.stderr, flush=True)
    return 1


if __name__ == "__main__":
    sys.exit(run())
