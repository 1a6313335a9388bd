#!/usr/bin/env bash
# Usage: bash scripts/wheelhouse.sh OUT_DIR [--python-version 3.12] [--platform manylinux_2_28_x86_64]
#                                   [--torch 2.11.0]
# On a machine with network access: puts into OUT_DIR every wheel the plugin needs beside torch,
# for the Python version and platform of a machine that has none (an offline GPU node), so that
# scripts/install.sh --wheelhouse OUT_DIR installs it there with no index, keeping the node's
# torch. The set is the one of scripts/constraints.txt; torchaudio (which fairseq requires and
# the plugin never imports) is taken in the release of the node's torch (--torch; default the
# constraints' torch). antlr4-python3-runtime has no wheel: it is built here (pure Python).
# Defaults: this machine's Python version and Linux x86_64 (manylinux).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[[ $# -ge 1 ]] || die "usage: bash scripts/wheelhouse.sh OUT_DIR [--python-version X.Y] [--platform TAG] [--torch VERSION]"
out=$1
shift
python=${PYTHON:-python3}
python_version=$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
platforms=(manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64)
torch_version=$(sed -n 's/^torch==//p' "$REPO/scripts/constraints.txt")
while [[ $# -gt 0 ]]; do
  case $1 in
    --python-version) python_version=$2; shift 2 ;;
    --platform) platforms=("$2"); shift 2 ;;
    --torch) torch_version=$2; shift 2 ;;
    *) die "unknown option $1" ;;
  esac
done
[[ $torch_version =~ ^([0-9]+\.[0-9]+) ]] || die "--torch $torch_version is not a torch version"
torch_release=${BASH_REMATCH[1]}

mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The pinned set less torch and the test extra, torchaudio of the node's torch release, the plugin's build tools.
sed -n '/^# the test extra/q; /^[A-Za-z]/p' "$REPO/scripts/constraints.txt" |
  grep -v -e '^torch==' -e '^torchaudio==' -e '^antlr4-python3-runtime==' > "$work/requirements.txt"
printf 'setuptools>=64\nwheel\n' >> "$work/requirements.txt"
platform_options=()
for platform in "${platforms[@]}"; do platform_options+=(--platform "$platform"); done
download() {
  "$python" -m pip download --quiet --no-deps --only-binary=:all: --python-version "$python_version" \
    "${platform_options[@]}" -d "$out" "$@"
}

say "downloading $(wc -l < "$work/requirements.txt") wheels for Python $python_version (${platforms[*]}) into $out"
download -r "$work/requirements.txt" || die "pip could not download every wheel (see above): is the package index reachable?"
# torchaudio of torch's release where there is one, else the constraints' (newer torch releases have none)
download "torchaudio==$torch_release.*" 2>/dev/null || download "$(grep '^torchaudio==' "$REPO/scripts/constraints.txt")" ||
  die "pip could not download a torchaudio for torch $torch_version"
antlr=$(grep '^antlr4-python3-runtime==' "$REPO/scripts/constraints.txt")
say "building $antlr (no wheel on the index)"
"$python" -m pip download --quiet --no-deps --no-binary=:all: "$antlr" -d "$work/sdist" ||
  die "pip could not download $antlr"
"$python" -m pip wheel --quiet --no-deps "$work"/sdist/* -w "$out" || die "could not build $antlr"
say "wrote $(ls "$out" | wc -l) files to $out; on the node: bash scripts/install.sh --wheelhouse $out"
