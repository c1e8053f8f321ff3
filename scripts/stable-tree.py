#!/usr/bin/env python3
"""Mirror a checkout into one stable directory, touching only the files whose content changed.

Cargo keys its build cache on the absolute path of each workspace crate and on the modification
times of its sources. A fresh clone has a new path and new times, so every workspace crate, every
binary and every fat-LTO link is rebuilt even when nothing changed. Building from one stable copy
instead keeps both: unchanged files keep their old times there, changed files get new ones.

    scripts/stable-tree.py SOURCE DEST

Copies the files git lists in SOURCE (tracked, plus untracked ones it does not ignore), removes
from DEST the files SOURCE no longer has (build outputs excepted), and prints what it did.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# Build outputs and caches that live in the tree but are not part of it.
KEEP = {".aws-sam", "target", "__pycache__", ".pytest_cache", ".git"}


def listed(source: Path) -> set[str]:
    out = subprocess.run(
        ["git", "-C", str(source), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        check=True,
        capture_output=True,
    ).stdout
    return {p for p in out.decode().split("\0") if p and (source / p).is_file()}


def same(a: Path, b: Path) -> bool:
    if not b.is_file() or a.stat().st_size != b.stat().st_size:
        return False
    return a.read_bytes() == b.read_bytes() and (a.stat().st_mode & 0o111) == (b.stat().st_mode & 0o111)


def sync(source: Path, dest: Path) -> tuple[int, int]:
    files = listed(source)
    changed = 0
    for rel in sorted(files):
        src, dst = source / rel, dest / rel
        if same(src, dst):
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_name(dst.name + ".stable-tree-tmp")
        tmp.write_bytes(src.read_bytes())
        os.chmod(tmp, src.stat().st_mode & 0o777)
        os.replace(tmp, dst)
        changed += 1
    removed = 0
    for root, dirs, names in os.walk(dest, topdown=True):
        dirs[:] = [d for d in dirs if d not in KEEP]
        for name in names:
            rel = os.path.relpath(os.path.join(root, name), dest)
            if rel not in files:
                os.remove(os.path.join(root, name))
                removed += 1
    for root, dirs, names in os.walk(dest, topdown=False):
        if root != str(dest) and not os.listdir(root) and not set(Path(root).parts) & KEEP:
            os.rmdir(root)
    return changed, removed


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[4].strip(), file=sys.stderr)
        return 2
    source, dest = Path(argv[0]).resolve(), Path(argv[1]).resolve()
    if source == dest:
        return 0
    dest.mkdir(parents=True, exist_ok=True)
    changed, removed = sync(source, dest)
    print(f"stable tree {dest}: {changed} file(s) changed, {removed} removed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
