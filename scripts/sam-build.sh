#!/usr/bin/env bash
# Build the Lambda artifacts with `sam build` and package each one as bootstrap.zip.
#
# SAM's BuildMethod rust-cargolambda runs, in the workspace root (CodeUri "."):
#     cargo lambda build --release --arm64 --bin <BuildProperties.Binary>
# (no --release when SAM_BUILD_MODE=debug), then copies <target-dir>/lambda/<bin>/bootstrap into
# .aws-sam/build/<LogicalId>/. SAM leaves an existing CARGO_TARGET_DIR alone, so exporting it here
# makes SAM's builds share one cargo cache with `make`/`cargo` and warm builds take seconds.
#
# Usage: scripts/sam-build.sh [extra sam build arguments]
# Env:   CARGO_TARGET_DIR  cargo target dir (default: $HOME/.cache/privatelink-autowire/target)
#        SAM_BUILD_MODE    set to "debug" for an unoptimised build
#        CI=true           a missing tool is an error (it always is here: nothing can be built without)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

CACHE_DIR="${CACHE_DIR:-$HOME/.cache/privatelink-autowire}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE_DIR/target}"
export SAM_CLI_TELEMETRY=0
TEMPLATE="template.yaml"
BUILD_DIR=".aws-sam/build"
DIST_DIR=".aws-sam/dist"
ARM_TARGET="aarch64-unknown-linux-gnu"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'sam-build: %s\n' "$*" >&2; exit 1; }

# Prefer the project's pinned Python venv (see the Makefile) over whatever else is on PATH.
venv="${VENV:-}"
if [[ -z "$venv" ]] && command -v make >/dev/null 2>&1; then
    venv="$(make -s print-venv 2>/dev/null || true)"
fi
if [[ -n "$venv" && -x "$venv/bin/sam" ]]; then
    export PATH="$venv/bin:$PATH"
fi
command -v sam >/dev/null 2>&1 || die "sam not found: run 'make venv' and put the venv's bin on PATH"
command -v cargo >/dev/null 2>&1 || die "cargo not found"
command -v cargo-lambda >/dev/null 2>&1 || die "cargo-lambda not found: run 'make venv'"
if command -v rustup >/dev/null 2>&1; then
    rustup target list --installed | grep -qx "$ARM_TARGET" \
        || die "rust target $ARM_TARGET missing: run 'make rust-target'"
fi
# cargo lambda cross-links with zig: a zig binary, or the ziglang Python package of the venv.
if ! command -v zig >/dev/null 2>&1 && ! python3 -c 'import ziglang' >/dev/null 2>&1; then
    die "zig not found (neither a zig binary nor the ziglang Python package): run 'make venv'"
fi

mkdir -p "$CARGO_TARGET_DIR"
log "sam build (cargo target dir $CARGO_TARGET_DIR${SAM_BUILD_MODE:+, mode $SAM_BUILD_MODE})"
log "$(sam --version); $(cargo lambda --version); $(cargo --version)"
start=$(date +%s)
# rust-cargolambda always builds in source; saying so keeps SAM from warning about it.
sam build --template-file "$TEMPLATE" --build-dir "$BUILD_DIR" --build-in-source --region us-east-1 "$@"
elapsed=$(( $(date +%s) - start ))
log "sam build took ${elapsed}s"

# Check, zip and measure every function artifact of the built template.
rm -rf "$DIST_DIR"
mkdir -p "$DIST_DIR"
python3 - "$BUILD_DIR" "$DIST_DIR" <<'PY'
import os, shutil, struct, subprocess, sys, zipfile

build_dir, dist_dir = sys.argv[1], sys.argv[2]
EM_AARCH64 = 183
artifacts = sorted(
    d for d in os.listdir(build_dir)
    if os.path.isfile(os.path.join(build_dir, d, "bootstrap"))
)
if not artifacts:
    sys.exit(f"sam-build: no bootstrap under {build_dir}/*/")

failed = False
rows = []
for name in artifacts:
    binary = os.path.join(build_dir, name, "bootstrap")
    with open(binary, "rb") as f:
        header = f.read(20)
    # ELF, 64-bit, little-endian, e_machine at offset 18.
    is_arm64 = (
        header[:4] == b"\x7fELF" and header[4] == 2 and header[5] == 1
        and struct.unpack_from("<H", header, 18)[0] == EM_AARCH64
    )
    described = ""
    if shutil.which("file"):
        described = subprocess.run(["file", "-b", binary], capture_output=True, text=True).stdout.strip()
        is_arm64 = is_arm64 and "ARM aarch64" in described
    if not is_arm64:
        print(f"sam-build: {binary} is not an arm64 ELF executable: {described or header[:4]!r}", file=sys.stderr)
        failed = True
        continue
    if not os.access(binary, os.X_OK):
        print(f"sam-build: {binary} is not executable", file=sys.stderr)
        failed = True
        continue

    out_dir = os.path.join(dist_dir, name)
    os.makedirs(out_dir, exist_ok=True)
    archive = os.path.join(out_dir, "bootstrap.zip")
    # Reproducible: fixed timestamp, fixed mode 0755, one entry.
    info = zipfile.ZipInfo("bootstrap", date_time=(1980, 1, 1, 0, 0, 0))
    info.external_attr = (0o100755 << 16)
    info.create_system = 3  # unix, so the mode bits are honoured
    info.compress_type = zipfile.ZIP_DEFLATED
    with open(binary, "rb") as f, zipfile.ZipFile(archive, "w") as z:
        z.writestr(info, f.read(), compresslevel=9)
    rows.append((name, os.path.getsize(binary), os.path.getsize(archive), described or "arm64 ELF", archive))

for name, raw, zipped, described, archive in rows:
    print(f"{name}: bootstrap {raw / 1048576:.2f} MiB ({raw} bytes), "
          f"bootstrap.zip {zipped / 1048576:.2f} MiB ({zipped} bytes) -> {archive}")
    print(f"    {described}")
sys.exit(1 if failed else 0)
PY
