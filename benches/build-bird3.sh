#!/usr/bin/env bash
# Builds BIRD 3 (multithreaded) from a source tree, for rr-bench's `--bird3 PATH`.
#
#   benches/build-bird3.sh SOURCE_DIR [PREFIX]
#
# SOURCE_DIR is a checkout of CZ-NIC/bird at tag v3.3.2 (or another 3.x); PREFIX defaults to
# SOURCE_DIR/install. Installs the build dependencies with apt where missing. Prints the path
# of the built `bird` binary on its last line.
set -euo pipefail

src=${1:?usage: build-bird3.sh SOURCE_DIR [PREFIX]}
src=$(cd "$src" && pwd)
prefix=${2:-$src/install}

if ! grep -q '^3\.' "$src/VERSION" 2>/dev/null; then
    echo "$src does not hold BIRD 3 (VERSION: $(cat "$src/VERSION" 2>/dev/null || echo none))" >&2
    exit 1
fi

need=()
for tool in autoreconf:autoconf bison:bison flex:flex m4:m4 make:make cc:build-essential; do
    command -v "${tool%%:*}" >/dev/null || need+=("${tool##*:}")
done
[ -e /usr/include/ncurses.h ] || need+=(libncurses-dev)
[ -e /usr/include/readline/readline.h ] || need+=(libreadline-dev)
if [ ${#need[@]} -gt 0 ]; then
    echo "==> installing ${need[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi

cd "$src"
echo "==> autoreconf"
[ -x configure ] || autoreconf -i >/dev/null 2>&1
echo "==> configure (prefix $prefix)"
./configure -q --prefix="$prefix" --disable-libssh >/dev/null
echo "==> make"
make -s -j"$(nproc)" >/dev/null
make -s install >/dev/null
"$prefix/sbin/bird" --version 2>&1 | head -1
echo "$prefix/sbin/bird"
