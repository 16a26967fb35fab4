#!/usr/bin/env bash
# Builds FRR 10 (bgpd, zebra, mgmtd, vtysh) and the libyang it needs from source trees, for
# rr-bench's `--frr10 PREFIX`.
#
#   benches/build-frr.sh FRR_SRC LIBYANG_SRC [PREFIX]
#
# FRR_SRC is a checkout of FRRouting/frr at a frr-10.x release tag (10.7.0 was measured);
# LIBYANG_SRC one of CESNET/libyang at the tag FRR's doc/developer/building-libyang.rst names
# (v3.13.6 for FRR 10.7; anything >= 2.1.128 builds). Debian 12's libyang2 is 2.1.30, too old,
# so libyang goes into PREFIX too and FRR is linked against it with an rpath. PREFIX defaults
# to /work/src/frr10-install. Installs the build dependencies with apt where missing. The
# daemons drop privileges to the `frr` user of Debian's frr package, as the packaged ones do.
# MAKE_JOBS (default: the number of cores) and NICE (default 10) tune the build.
set -euo pipefail

frr=${1:?usage: build-frr.sh FRR_SRC LIBYANG_SRC [PREFIX]}
yang=${2:?usage: build-frr.sh FRR_SRC LIBYANG_SRC [PREFIX]}
frr=$(cd "$frr" && pwd)
yang=$(cd "$yang" && pwd)
prefix=${3:-/work/src/frr10-install}
jobs=${MAKE_JOBS:-$(nproc)}
nice=${NICE:-10}

if ! grep -q 'AC_INIT(\[frr\], \[10\.' "$frr/configure.ac" 2>/dev/null; then
    echo "$frr does not hold FRR 10 ($(grep -o 'AC_INIT([^)]*)' "$frr/configure.ac" 2>/dev/null || echo 'no configure.ac'))" >&2
    exit 1
fi
if [ ! -e "$yang/src/libyang.h" ] && [ ! -e "$yang/src/libyang.h.in" ]; then
    echo "$yang does not hold libyang" >&2
    exit 1
fi

need=()
for tool in autoreconf:autoconf automake:automake libtoolize:libtool cmake:cmake \
    bison:bison flex:flex make:make cc:build-essential pkg-config:pkg-config \
    protoc-c:protobuf-c-compiler python3:python3-dev; do
    command -v "${tool%%:*}" >/dev/null || need+=("${tool##*:}")
done
for hdr in pcre2.h:libpcre2-dev json-c/json.h:libjson-c-dev readline/readline.h:libreadline-dev \
    sys/capability.h:libcap-dev libelf.h:libelf-dev protobuf-c/protobuf-c.h:libprotobuf-c-dev \
    Python.h:python3-dev; do
    if ! find /usr/include -path "*/${hdr%%:*}" -print -quit | grep -q .; then
        need+=("${hdr##*:}")
    fi
done
if [ ${#need[@]} -gt 0 ]; then
    echo "==> installing ${need[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi
getent passwd frr >/dev/null || {
    echo "no frr user: install Debian's frr package or add the user and group frr" >&2
    exit 1
}

echo "==> libyang $(git -C "$yang" describe --tags 2>/dev/null || echo '?') into $prefix"
cmake -S "$yang" -B "$yang/build" -DCMAKE_INSTALL_PREFIX="$prefix" \
    -DCMAKE_BUILD_TYPE=Release -DENABLE_LYD_PRIV=ON -DENABLE_TESTS=OFF \
    -DENABLE_VALGRIND_TESTS=OFF >/dev/null
nice -n "$nice" make -s -C "$yang/build" -j"$jobs" >/dev/null
make -s -C "$yang/build" install >/dev/null
libdir=$prefix/lib
[ -e "$prefix/lib64/pkgconfig/libyang.pc" ] && libdir=$prefix/lib64

echo "==> FRR $(git -C "$frr" describe --tags 2>/dev/null || echo '?'): bootstrap"
cd "$frr"
[ -x configure ] || ./bootstrap.sh >/dev/null 2>&1
echo "==> configure (prefix $prefix)"
# Only what a BGP route reflector runs: bgpd, zebra (next-hop resolution), mgmtd (FRR 10
# reads the zebra/staticd configuration through it), staticd, vtysh. No docs, no tests.
# (FRR checks for libyang functions with plain -lyang, hence -L besides pkg-config.)
PKG_CONFIG_PATH="$libdir/pkgconfig" \
    LDFLAGS="-L$libdir -Wl,-rpath,$libdir" CPPFLAGS="-I$prefix/include" \
    ./configure -q --prefix="$prefix" --sysconfdir="$prefix/etc" \
    --localstatedir="$prefix/var" --sbindir="$prefix/sbin" \
    --enable-user=frr --enable-group=frr --enable-vty-group=frrvty \
    --enable-multipath=64 --disable-doc --disable-ripd --disable-ripngd \
    --disable-ospfd --disable-ospf6d --disable-ldpd --disable-nhrpd --disable-eigrpd \
    --disable-babeld --disable-isisd --disable-pimd --disable-pim6d --disable-pbrd \
    --disable-fabricd --disable-vrrpd --disable-bfdd --disable-sharpd --disable-pathd \
    --disable-snmp --disable-scripting --disable-grpc >/dev/null
echo "==> make -j$jobs (nice $nice)"
nice -n "$nice" make -s -j"$jobs" >/dev/null
make -s install >/dev/null
mkdir -p "$prefix/etc/frr" "$prefix/var/run/frr" "$prefix/var/lib/frr"
# The daemons, running as frr, keep their sockets (mgmtd's) and state there.
chown frr:frr "$prefix/var/run/frr" "$prefix/var/lib/frr"
"$prefix/sbin/bgpd" --version 2>&1 | head -1
echo "run: sudo target/release/rr-bench --frr10 $prefix --duts ours,frr-tuned,frr10"
echo "$prefix"
