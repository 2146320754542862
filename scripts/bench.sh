#!/usr/bin/env bash
# Container start-up of cella side by side with runc, crun and (with --youki) youki: builds
# cella and cella-bench in release mode, installs runc and crun when missing, runs the bench and
# writes the table and chart that the README shows.
#
#   sudo scripts/bench.sh                 # cella, runc, crun (+ youki when it is on PATH)
#   sudo scripts/bench.sh --youki         # installs youki first if needed (about 2 minutes)
#   sudo scripts/bench.sh -- -n 50        # anything after -- goes to cella-bench (see --help)
#
# Output: integration-tests/bench/results/bench.md and bench-run.svg (override with
# BENCH_OUT=FILE.md BENCH_SVG=FILE.svg). The machine should be otherwise idle; the runtimes are
# interleaved, so noise hits them alike, but it still widens the spread.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"

youki=0 extra=()
while (($#)); do
    case $1 in
        --youki) youki=1 ;;
        --) shift; extra=("$@"); break ;;
        -h | --help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown option $1 (options for cella-bench go after --)" ;;
    esac
    shift
done

need_root
ensure_packages runc crun busybox-static util-linux libseccomp-dev
ensure_cargo
if ((youki)) && ! command -v youki >/dev/null; then
    note "installing youki (cargo install youki --features v1, about 2 minutes)"
    cargo install youki --features v1
fi

cd "$CELLA_REPO"
target=${CARGO_TARGET_DIR:-$CELLA_REPO/target}
note "building cella (release, static-pie: scripts/build-release.sh) and cella-bench"
"$here/build-release.sh"
cargo build --release -p integration-tests --bin cella-bench

results=$CELLA_REPO/integration-tests/bench/results
out=${BENCH_OUT:-$results/bench.md}
svg=${BENCH_SVG:-$results/bench-run.svg}
mkdir -p "$(dirname "$out")" "$(dirname "$svg")"
"$target/release/cella-bench" --cella "$target/release/cella" --out "$out" --svg "$svg" \
    "${extra[@]}"
note "wrote $out and $svg"
