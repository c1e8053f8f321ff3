"""Smoke run of every function `sam build` produced: each arm64 bootstrap runs once through
cargo-lambda's runtime emulator (under qemu-user on a non-arm64 machine) and must answer a
CloudFormation request. Prints each artifact's cold start to first response.

    python tests/binary/smoke.py .aws-sam/build      (with AUTOWIRE_EMULATOR_URL set)

Any directory of `<Name>/bootstrap` works; a native (x86_64) bootstrap runs as it is, which is how
scripts/profile-table.sh measures native cold starts.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import socket
import stat
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "emulator"))
sys.path.insert(0, str(HERE))

from capture import CaptureServer  # noqa: E402
from lambda_harness import LambdaHarness  # noqa: E402
from testbed_fixtures import function_env, assume_account, build_provider_network  # noqa: E402
from test_provider_binary import FN, PROVIDER, REGION, event, props_for  # noqa: E402

ARM64_SYSROOT = "/usr/aarch64-linux-gnu"


def is_arm64(binary: Path) -> bool:
    """An ELF for aarch64 (e_machine 183)."""
    header = binary.read_bytes()[:20]
    return header[:4] == b"\x7fELF" and int.from_bytes(header[18:20], "little") == 183


def runnable(bootstrap: Path, workdir: Path) -> Path:
    """The bootstrap itself when the machine runs it natively (an arm64 bootstrap on arm64, or a
    native build); otherwise a wrapper that runs the arm64 bootstrap under qemu-user."""
    if platform.machine() in ("aarch64", "arm64") or not is_arm64(bootstrap):
        return bootstrap
    qemu = shutil.which("qemu-aarch64-static") or shutil.which("qemu-aarch64")
    if not qemu:
        sys.exit("qemu-user is missing: `make tools` installs it (qemu-user-static, libc6-arm64-cross)")
    wrapper = workdir / f"{bootstrap.parent.name}-bootstrap"
    wrapper.write_text(f'#!/bin/sh\nexec {qemu} -L {ARM64_SYSROOT} {bootstrap} "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    return wrapper


def smoke_event(capture: CaptureServer, name: str, service) -> dict:
    """A request each function answers SUCCESS on a fresh emulator: the provider publishes the
    service; the consumer deletes a link that never existed (every lookup, nothing to remove)."""
    if name.startswith("Consumer"):
        return event(capture, "Delete", {
            "ServiceParameter": "/privatelink-autowire/services/smoke",
            "VpcId": service.vpc_id,
            "SubnetIds": list(service.subnet_ids.values()),
            "AliasName": "smoke.link.example.com",
        }, physical_id="link-00000000000000000000", logical="Link",
            resource_type="Custom::ServiceEndpoint")
    return event(capture, "Create", props_for(service, f"smoke-{name.lower()}"))


def smoke_probe(fn) -> str:
    """The probe (no AWS calls, no CloudFormation): one TCP target on a loopback listener."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        report = fn.invoke({"targets": [{"host": "127.0.0.1", "port": port}], "system_dns": False})
    return "SUCCESS" if report.get("ok") is True else f"FAILED {report}"


def smoke_reconciler(fn) -> str:
    """The reconciler (no CloudFormation): a scheduled pass over an account with no links."""
    with open(Path(__file__).resolve().parents[2] / "events" / "reconciler-scheduled.json") as f:
        answer = fn.invoke(json.load(f))
    return "SUCCESS" if answer.get("consumer", {}).get("links") == 0 else f"FAILED {answer}"


def main(build_dir: str) -> int:
    url = os.environ["AUTOWIRE_EMULATOR_URL"]
    artifacts = sorted(p.resolve() for p in Path(build_dir).glob("*/bootstrap"))
    if not artifacts:
        print(f"no bootstrap artifacts under {build_dir}: run `make build` first", file=sys.stderr)
        return 1
    session = assume_account(url, PROVIDER)
    service = build_provider_network(session, ["use1-az1", "use1-az2"], listeners=[("TCP", 443)])
    env = function_env(session, url)
    failures = 0
    with tempfile.TemporaryDirectory() as tmp, CaptureServer() as capture:
        for bootstrap in artifacts:
            name = bootstrap.parent.name
            with LambdaHarness(str(runnable(bootstrap, Path(tmp))), FN, env=env, timeout_s=60,
                               account=PROVIDER, region=REGION) as fn:
                if name.startswith("Probe"):
                    status = smoke_probe(fn)
                elif name.startswith("Reconciler"):
                    status = smoke_reconciler(fn)
                else:
                    e = smoke_event(capture, name, service)
                    fn.invoke(e)
                    got = capture.wait_for("/" + e["RequestId"], count=1, timeout=30)
                    status = got[0]["body"]["Status"]
                cold_ms = (fn.cold_start_s or 0) * 1000
                print(f"smoke {name}: {status}, cold start to first response {cold_ms:.0f} ms")
                failures += status != "SUCCESS"
    print(f"{len(artifacts) - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else ".aws-sam/build"))
