# Environment for building mmtree-bench with `--features rocksdb` against Debian's RocksDB 7.8.
# Source it (it only sets variables; it never exits your shell):
#
#   . scripts/rocksdb-env.sh
#   cargo build --release -p mmtree-bench --features rocksdb
#
# Installs librocksdb-dev and libclang-dev (bindgen needs libclang) when missing and running as
# root, then exports ROCKSDB_LIB_DIR and ROCKSDB_INCLUDE_DIR from `dpkg -L`. Without
# ROCKSDB_LIB_DIR, librocksdb-sys silently compiles its bundled RocksDB instead (~15 minutes);
# with it, the build takes about 30 seconds and links librocksdb.so dynamically.

__rocksdb_env() {
    local missing="" pkg
    for pkg in librocksdb-dev libclang-dev; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' ||
            missing="$missing $pkg"
    done
    if [ -n "$missing" ]; then
        if [ "$(id -u)" -eq 0 ]; then
            echo "rocksdb-env: installing$missing" >&2
            # shellcheck disable=SC2086 # word splitting of the package list is intended
            DEBIAN_FRONTEND=noninteractive apt-get install -y $missing >&2 ||
                { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y $missing >&2; } ||
                { echo "rocksdb-env: apt-get install$missing failed" >&2; return 1; }
        else
            echo "rocksdb-env: missing$missing; run: sudo apt-get install -y$missing" >&2
            return 1
        fi
    fi
    # librocksdb-dev ships the unversioned librocksdb.so (the runtime package only the .so.7.8*).
    local so
    so=$(dpkg -L librocksdb-dev 2>/dev/null | grep '/librocksdb\.so$' | head -n 1)
    if [ -z "$so" ]; then
        echo "rocksdb-env: librocksdb.so not found in dpkg -L librocksdb-dev" >&2
        return 1
    fi
    local include
    include=$(dpkg -L librocksdb-dev 2>/dev/null | grep '/rocksdb/c\.h$' | head -n 1)
    include=${include%/rocksdb/c.h}
    ROCKSDB_LIB_DIR=$(dirname "$so")
    ROCKSDB_INCLUDE_DIR=${include:-/usr/include}
    export ROCKSDB_LIB_DIR ROCKSDB_INCLUDE_DIR
    echo "ROCKSDB_LIB_DIR=$ROCKSDB_LIB_DIR"
    echo "ROCKSDB_INCLUDE_DIR=$ROCKSDB_INCLUDE_DIR"
}

__rocksdb_env
__rocksdb_env_rc=$?
unset -f __rocksdb_env
# `return` when sourced; `exit` when run as a script (then the exports do not reach the caller).
return "$__rocksdb_env_rc" 2>/dev/null || exit "$__rocksdb_env_rc"
