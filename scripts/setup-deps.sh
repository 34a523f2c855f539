#!/usr/bin/env bash
# setup-deps.sh - install/fetch everything DumpExec needs to build and test.
#
#  1. Debian packages (build-essential cmake pkg-config libcapstone-dev
#     libuv1-dev libcmocka-dev libjansson-dev xz-utils gdb lldb python3 clang
#     libclang-rt-14-dev for libFuzzer, gdb-mingw-w64 for the Windows-aware
#     gdb of the tests, gcc-mingw-w64-x86-64-win32 for the check of Windows
#     structure layouts against mingw-w64's headers), libwine (Wine's PE
#     DLLs: the images a small dump's test loads from files), python3-pytest,
#     python3-venv, python3-wheel and python3-tqdm for the Python package's tests and
#     examples: only the missing
#     ones are installed.  As root: apt-get update && apt-get install -y.
#     Not root: prints the sudo command to run and exits 1.
#  2. Unicorn >= 2.1.  If pkg-config already finds one, nothing is done.
#     Otherwise Debian 13 (trixie)'s libunicorn2t64 + libunicorn-dev are
#     downloaded with a PRIVATE apt state under .deps/apt (own sources list,
#     lists, cache, empty dpkg status; the system's apt config and sources are
#     never modified) and unpacked into the project-local prefix
#     .deps/unicorn.  The mirror is read from the system's apt sources; the
#     Release file is checked against the system Debian archive keyring.
#     (They only need libc6 >= 2.34, so they run on Debian 12, whose own
#     unicorn 2.0.1 is 20-50x slower on code that stores to memory.)
#  3. Prints the PKG_CONFIG_PATH to use and writes it to .deps/env.sh.
#
# Usage: scripts/setup-deps.sh [--skip-apt] [--verify] [--force] [--help]
#   --skip-apt  do not check/install Debian packages (env: DUMPEXEC_SKIP_APT=1)
#   --verify    compile + run a small Unicorn test program even when nothing
#               had to be fetched (always done after a fresh fetch)
#   --force     re-fetch Unicorn into .deps/unicorn even if it is present
# Environment:
#   DUMPEXEC_SKIP_APT=1        same as --skip-apt
#   DUMPEXEC_DEBIAN_MIRROR=URI use this Debian archive URI instead of the one
#                              found in the system's apt sources
#
# A second run with .deps/unicorn already populated does no network access.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
deps="$root/.deps"
prefix="$deps/unicorn"
aptdir="$deps/apt"
envfile="$deps/env.sh"
stamp_name=".dumpexec-unicorn"

unicorn_suite=trixie
unicorn_min=2.1
unicorn_pkgs=(libunicorn2t64 libunicorn-dev)
debian_pkgs=(build-essential cmake pkg-config libcapstone-dev libuv1-dev
             libcmocka-dev libjansson-dev xz-utils gdb lldb python3 clang libclang-rt-14-dev gdb-mingw-w64
             gcc-mingw-w64-x86-64-win32 python3-pytest python3-venv python3-wheel python3-tqdm libwine
             libcurl4-openssl-dev)
keyring=/usr/share/keyrings/debian-archive-keyring.gpg

skip_apt=${DUMPEXEC_SKIP_APT:-0}
do_verify=0
force=0
for arg in "$@"; do
    case "$arg" in
        --skip-apt) skip_apt=1 ;;
        --verify) do_verify=1 ;;
        --force) force=1 ;;
        -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
        *) echo "setup-deps: unknown argument: $arg (try --help)" >&2; exit 2 ;;
    esac
done

log() { printf 'setup-deps: %s\n' "$*"; }
die() { printf 'setup-deps: error: %s\n' "$*" >&2; exit 1; }
is_root() { [ "$(id -u)" -eq 0 ]; }

# ---------------------------------------------------------------------------
# 1. Debian packages
# ---------------------------------------------------------------------------

# Run a *system* apt-get command, retrying while another apt/dpkg process
# (e.g. a background `apt-get install`) holds the locks.
apt_retry() {
    local out rc i
    out=$(mktemp)
    for i in $(seq 1 120); do
        set +e
        "$@" 2>&1 | tee "$out"
        rc=${PIPESTATUS[0]}
        set -e
        if [ "$rc" -eq 0 ]; then rm -f "$out"; return 0; fi
        if grep -qE 'Could not get lock|Unable to lock|Unable to acquire the dpkg frontend lock' "$out"; then
            log "apt/dpkg is locked by another process; retrying in 5s ($i/120)"
            sleep 5
            continue
        fi
        rm -f "$out"
        return "$rc"
    done
    rm -f "$out"
    die "gave up waiting for the apt/dpkg lock"
}

install_debian_packages() {
    local missing=() p st
    for p in "${debian_pkgs[@]}"; do
        st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
        [ "$st" = installed ] || missing+=("$p")
    done
    if [ ${#missing[@]} -eq 0 ]; then
        log "Debian packages: all ${#debian_pkgs[@]} present"
        return 0
    fi
    if ! is_root; then
        echo "setup-deps: missing Debian packages: ${missing[*]}" >&2
        echo "Run:" >&2
        echo "  sudo apt-get update" >&2
        echo "  sudo apt-get install -y ${missing[*]}" >&2
        echo "then re-run $0 (or set DUMPEXEC_SKIP_APT=1 to skip this check)." >&2
        exit 1
    fi
    log "installing missing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt_retry apt-get update
    apt_retry apt-get install -y -o DPkg::Lock::Timeout=600 "${missing[@]}"
}

if [ "$skip_apt" = 1 ]; then
    log "Debian packages: skipped (DUMPEXEC_SKIP_APT=1 / --skip-apt)"
else
    install_debian_packages
fi

# ---------------------------------------------------------------------------
# 2. Unicorn >= 2.1
# ---------------------------------------------------------------------------

have_pkgconfig() { command -v pkg-config >/dev/null 2>&1; }

# PKG_CONFIG_PATH from the caller's environment minus our own prefix, so that
# a previously sourced .deps/env.sh does not count as "system unicorn".
strip_own_pcpath() {
    local out="" d
    local IFS=:
    for d in ${PKG_CONFIG_PATH:-}; do
        case "$d" in "$prefix"/*|"") continue ;; esac
        out="${out:+$out:}$d"
    done
    printf '%s' "$out"
}

# Print the pkgconfig dir inside the prefix (or nothing).
own_pcdir() {
    local pc
    [ -d "$prefix/usr/lib" ] || return 0
    pc=$(find "$prefix/usr/lib" -path '*/pkgconfig/unicorn.pc' -print -quit 2>/dev/null)
    [ -n "$pc" ] && dirname "$pc"
    return 0
}

# Make unicorn.pc in the prefix point into the prefix (Debian's has /usr).
fix_pc() {
    local pcdir=$1 pcfile="$1/unicorn.pc" multiarch tmp
    multiarch=$(basename "$(dirname "$pcdir")")
    tmp=$(mktemp "$pcdir/.unicorn.pc.XXXXXX")
    PC_PREFIX="$prefix/usr" PC_MULTIARCH="$multiarch" awk '
        BEGIN { p = ENVIRON["PC_PREFIX"]; m = ENVIRON["PC_MULTIARCH"]
                print "prefix=" p; print "exec_prefix=${prefix}" }
        /^(prefix|exec_prefix)=/ { next }
        /^libdir=/      { print "libdir=${exec_prefix}/lib/" m; next }
        /^includedir=/  { print "includedir=${prefix}/include"; next }
        { print }' "$pcfile" >"$tmp"
    chmod 644 "$tmp"
    mv -f "$tmp" "$pcfile"
}

# Is the prefix complete and consistent?  (no network; used for idempotency)
prefix_ok() {
    local pcdir libdir so
    [ -f "$prefix/$stamp_name" ] || return 1
    pcdir=$(own_pcdir); [ -n "$pcdir" ] || return 1
    libdir=$(dirname "$pcdir")
    so=$(readlink -f "$libdir/libunicorn.so" 2>/dev/null) || return 1
    case "$so" in "$prefix"/*) ;; *) return 1 ;; esac
    [ -f "$so" ] && [ -f "$prefix/usr/include/unicorn/unicorn.h" ] || return 1
    # re-point the .pc if the checkout moved since it was written
    if ! grep -qxF "prefix=$prefix/usr" "$pcdir/unicorn.pc"; then fix_pc "$pcdir"; fi
    PKG_CONFIG_LIBDIR="$pcdir" PKG_CONFIG_PATH="" \
        pkg-config --atleast-version="$unicorn_min" unicorn
}

etc_apt_sum() {
    find /etc/apt -type f -print0 2>/dev/null | sort -z |
        xargs -0r sha256sum 2>/dev/null | sha256sum | cut -d' ' -f1
}

# Candidate Debian main-archive URIs from the system's apt sources: entries
# of type deb whose suite is the release itself (no -security/-updates/...),
# not a security archive, and not signed by a third-party key.
debian_mirrors() {
    local codename="" f
    # shellcheck disable=SC1091
    codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
    local suites_re="^(${codename:-bookworm}|bookworm|trixie|forky|stable|oldstable|testing|unstable|sid)$"
    {
        for f in /etc/apt/sources.list.d/*.sources; do
            [ -r "$f" ] || continue
            awk -v sre="$suites_re" '
                function flush(   n, u, i, s, ns, ok) {
                    if (types ~ /(^|[ \t])deb([ \t]|$)/ && enabled != "no" &&
                        (signed == "" || signed ~ /debian-archive/)) {
                        ok = 0; ns = split(suites, s, /[ \t]+/)
                        for (i = 1; i <= ns; i++) if (s[i] ~ sre) ok = 1
                        if (ok) { n = split(uris, u, /[ \t]+/)
                                  for (i = 1; i <= n; i++) if (u[i] != "") print u[i] }
                    }
                    types = uris = suites = signed = key = ""; enabled = "yes"
                }
                BEGIN { enabled = "yes" }
                /^[ \t]*#/ { next }
                /^[ \t]*$/ { flush(); next }
                /^[ \t]/ { v = $0; gsub(/^[ \t]+|[ \t]+$/, "", v)
                           if (key == "uris") uris = uris " " v
                           else if (key == "suites") suites = suites " " v
                           else if (key == "signed-by") signed = signed " " v
                           next }
                { i = index($0, ":"); if (!i) next
                  key = tolower(substr($0, 1, i - 1)); v = substr($0, i + 1)
                  gsub(/^[ \t]+|[ \t]+$/, "", v)
                  if (key == "types") types = v
                  else if (key == "uris") uris = v
                  else if (key == "suites") suites = v
                  else if (key == "enabled") enabled = tolower(v)
                  else if (key == "signed-by") signed = v }
                END { flush() }' "$f"
        done
        for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
            [ -r "$f" ] || continue
            awk -v sre="$suites_re" '
                { sub(/#.*/, "") }
                $1 != "deb" { next }
                { line = $0; opts = ""
                  if (match(line, /\[[^]]*\]/)) {
                      opts = substr(line, RSTART + 1, RLENGTH - 2)
                      line = substr(line, 1, RSTART - 1) " " substr(line, RSTART + RLENGTH)
                  }
                  n = split(line, w, /[ \t]+/); k = 0
                  for (i = 1; i <= n; i++) if (w[i] != "") a[++k] = w[i]
                  # a[1]=deb a[2]=uri a[3]=suite
                  if (k < 3 || a[3] !~ sre) next
                  if (opts ~ /signed-by=/ && opts !~ /signed-by=[^ ]*debian-archive/) next
                  print a[2] }' "$f"
        done
    } | grep -v -i -E 'security|^cdrom:' | awk '!seen[$0]++'
}

# apt-get/apt-cache with a completely private state.  System apt options
# (proxies, Acquire settings, ...) are carried over via `apt-config dump`,
# minus hooks, Dir::*, pinning and architecture settings.
papt_setup() {
    local arch=$1
    mkdir -p "$aptdir/lists/partial" "$aptdir/cache/archives/partial" "$aptdir/debs"
    : >"$aptdir/status"
    apt-config dump 2>/dev/null |
        grep -v -E '^(Dir|APT::Architectures?|APT::Default-Release)( |::)' |
        grep -v -E '^[^ ]*(Invoke|Pre-Install-Pkgs)[^ ]* ' >"$aptdir/apt.conf" || true
    cat >>"$aptdir/apt.conf" <<EOF
Dir::Etc::main "/dev/null";
Dir::Etc::parts "/dev/null";
Dir::Etc::preferences "/dev/null";
Dir::Etc::preferencesparts "/dev/null";
APT::Architecture "$arch";
APT::Architectures { "$arch"; };
Acquire::Languages { "none"; };
EOF
    papt_opts=(
        -o "Dir::State=$aptdir"
        -o "Dir::State::Lists=$aptdir/lists"
        -o "Dir::State::status=$aptdir/status"
        -o "Dir::State::extended_states=$aptdir/extended_states"
        -o "Dir::Etc::SourceList=$aptdir/sources.list"
        -o "Dir::Etc::SourceParts=/dev/null"
        -o "Dir::Cache=$aptdir/cache"
        -o "Dir::Cache::archives=$aptdir/cache/archives"
        -o "Dir::Cache::pkgcache="
        -o "Dir::Cache::srcpkgcache="
    )
    # let the _apt sandbox user write the downloaded .debs (as apt does for
    # its own partial/ dirs); otherwise apt warns and downloads as root.
    if is_root && getent passwd _apt >/dev/null; then
        chown _apt "$aptdir/debs" 2>/dev/null || true
    fi
}
papt() { APT_CONFIG="$aptdir/apt.conf" "$@" "${papt_opts[@]}"; }

fetch_unicorn() {
    local arch mirrors=() m ok="" ver stage pcdir libdir so etc_before

    if ! command -v apt-get >/dev/null || ! command -v dpkg-deb >/dev/null; then
        die "apt-get and dpkg-deb are needed to fetch Unicorn"
    fi
    [ -r "$keyring" ] || die "$keyring not found (install debian-archive-keyring)"
    # The Release file of trixie is signed by the trixie keys (and, at least
    # for now, also by the bookworm archive key).  bookworm's keyring package
    # has shipped the trixie keys since 2023.3+deb12u1.
    if command -v gpg >/dev/null &&
       ! gpg --no-default-keyring --keyring "$keyring" --list-keys 2>/dev/null |
            grep -q "/$unicorn_suite)"; then
        log "note: $keyring has no $unicorn_suite keys; if verification fails," \
            "upgrade it: apt-get install --only-upgrade debian-archive-keyring"
    fi

    if [ -n "${DUMPEXEC_DEBIAN_MIRROR:-}" ]; then
        mirrors=("$DUMPEXEC_DEBIAN_MIRROR")
    else
        mapfile -t mirrors < <(debian_mirrors)
    fi
    [ ${#mirrors[@]} -gt 0 ] || die "no Debian archive mirror found in /etc/apt/sources.list{,.d}; set DUMPEXEC_DEBIAN_MIRROR=<archive URI>"

    arch=$(dpkg --print-architecture)
    etc_before=$(etc_apt_sum)
    papt_setup "$arch"

    for m in "${mirrors[@]}"; do
        log "fetching ${unicorn_pkgs[*]} from $unicorn_suite via $m (private apt state in ${aptdir#"$root"/})"
        printf 'deb [arch=%s signed-by=%s] %s %s main\n' "$arch" "$keyring" "$m" "$unicorn_suite" \
            >"$aptdir/sources.list"
        if papt apt-get -q update >"$aptdir/update.log" 2>&1 &&
           ! grep -qE 'GPG error|NO_PUBKEY|EXPKEYSIG|not signed|^E: ' "$aptdir/update.log" &&
           ver=$(papt apt-cache show --no-all-versions "${unicorn_pkgs[1]}" 2>/dev/null |
                 sed -n 's/^Version: //p' | head -n1) && [ -n "$ver" ]; then
            ok=1; break
        fi
        log "  mirror $m did not work:"; sed 's/^/    /' "$aptdir/update.log" >&2
    done
    [ -n "$ok" ] || die "could not get ${unicorn_pkgs[*]} from $unicorn_suite"

    rm -f "$aptdir/debs/"*.deb
    (cd "$aptdir/debs" && papt apt-get -q download "${unicorn_pkgs[@]}") >"$aptdir/download.log" 2>&1 ||
        { cat "$aptdir/download.log" >&2; die "apt-get download failed"; }

    # unpack into a staging dir, then swap in atomically
    stage=$(mktemp -d "$deps/unicorn.stage.XXXXXX")
    local deb
    for deb in "$aptdir/debs/"*.deb; do dpkg-deb -x "$deb" "$stage"; done
    {
        echo "suite=$unicorn_suite"
        for deb in "$aptdir/debs/"*.deb; do
            echo "$(dpkg-deb -f "$deb" Package)=$(dpkg-deb -f "$deb" Version)"
        done
    } >"$stage/$stamp_name"

    pcdir=$(find "$stage/usr/lib" -path '*/pkgconfig/unicorn.pc' -print -quit)
    [ -n "$pcdir" ] || die "unicorn.pc not found in the downloaded packages"
    libdir=$(dirname "$(dirname "$pcdir")")
    # dev symlink must resolve inside the prefix: make it relative
    so=$(readlink "$libdir/libunicorn.so" || true)
    case "$so" in
        /*) ln -sfn "$(basename "$so")" "$libdir/libunicorn.so" ;;
    esac
    [ -f "$libdir/$(readlink "$libdir/libunicorn.so")" ] || die "libunicorn.so link is broken"

    rm -rf "$prefix.old"
    [ -e "$prefix" ] && mv "$prefix" "$prefix.old"
    mv "$stage" "$prefix"
    rm -rf "$prefix.old"
    fix_pc "$(own_pcdir)"
    # the ~20 MB package index is not needed any more (the .debs are kept)
    rm -f "$aptdir/lists/"*_dists_* "$aptdir/cache/"*.bin

    [ "$(etc_apt_sum)" = "$etc_before" ] || die "/etc/apt changed during the private apt run (this should never happen)"
    prefix_ok || die "fetched Unicorn in $prefix but it is not usable"
    log "unpacked $(grep -v '^suite=' "$prefix/$stamp_name" | paste -sd',' - | sed 's/,/, /g') into ${prefix#"$root"/}"
}

# Compile and run a tiny program against the selected Unicorn, in a temp dir.
verify_unicorn() {
    local pcpath=$1 libdir=$2 t rc=0
    command -v cc >/dev/null || { log "verify: no C compiler, skipped"; return 0; }
    t=$(mktemp -d "${TMPDIR:-/tmp}/dumpexec-unicorn-check.XXXXXX")
    cat >"$t/check.c" <<'EOF'
#include <stdio.h>
#include <stdint.h>
#include <unicorn/unicorn.h>
int main(void) {
    unsigned maj, min, v = uc_version(&maj, &min);
    /* mov rax,0x1234; add rax,0x10; mov [0x2000],rax; inc rcx */
    static const uint8_t code[] = {
        0x48, 0xc7, 0xc0, 0x34, 0x12, 0x00, 0x00, 0x48, 0x83, 0xc0, 0x10,
        0x48, 0x89, 0x04, 0x25, 0x00, 0x20, 0x00, 0x00, 0x48, 0xff, 0xc1 };
    uc_engine *uc; uint64_t rax = 0, rcx = 0, mem = 0; uc_err e;
    printf("uc_version: %u.%u.%u (header %d.%d.%d)\n", v >> 24 & 0xff,
           v >> 16 & 0xff, v >> 8 & 0xff, UC_API_MAJOR, UC_API_MINOR, UC_API_PATCH);
    if ((e = uc_open(UC_ARCH_X86, UC_MODE_64, &uc)) != UC_ERR_OK ||
        (e = uc_mem_map(uc, 0x1000, 0x2000, UC_PROT_ALL)) != UC_ERR_OK ||
        (e = uc_mem_write(uc, 0x1000, code, sizeof code)) != UC_ERR_OK ||
        (e = uc_emu_start(uc, 0x1000, 0x1000 + sizeof code, 0, 0)) != UC_ERR_OK) {
        printf("unicorn error: %s\n", uc_strerror(e)); return 1;
    }
    uc_reg_read(uc, UC_X86_REG_RAX, &rax);
    uc_reg_read(uc, UC_X86_REG_RCX, &rcx);
    uc_mem_read(uc, 0x2000, &mem, sizeof mem);
    uc_close(uc);
    printf("emulated: rax=0x%llx rcx=%llu [0x2000]=0x%llx\n",
           (unsigned long long)rax, (unsigned long long)rcx, (unsigned long long)mem);
    return (rax == 0x1244 && rcx == 1 && mem == 0x1244) ? 0 : 1;
}
EOF
    # shellcheck disable=SC2046
    if cc -o "$t/check" "$t/check.c" \
          $(PKG_CONFIG_PATH="$pcpath" pkg-config --cflags --libs unicorn) \
          ${libdir:+-Wl,-rpath,"$libdir"} >"$t/cc.log" 2>&1 &&
       "$t/check" >"$t/run.log" 2>&1; then
        sed 's/^/setup-deps: verify: /' "$t/run.log"
        log "verify: libunicorn loaded from $(ldd "$t/check" | awk '/libunicorn/ {print $3}')"
    else
        rc=1
        cat "$t/cc.log" "$t/run.log" 2>/dev/null >&2 || true
        log "verify: FAILED" >&2
    fi
    rm -rf "$t"
    return "$rc"
}

write_env() { # $1 = pkgconfig dir to prepend (may be empty), $2 = lib dir
    mkdir -p "$deps"
    {
        echo "# generated by scripts/setup-deps.sh - source this before configuring DumpExec"
        if [ -n "$1" ]; then
            # shellcheck disable=SC2016
            printf 'export PKG_CONFIG_PATH="%s${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"\n' "$1"
        fi
        printf 'export DUMPEXEC_UNICORN_LIBDIR="%s"\n' "$2"
    } >"$envfile.tmp"
    mv -f "$envfile.tmp" "$envfile"
}

have_pkgconfig || die "pkg-config not found (install pkg-config, or run without --skip-apt)"
mkdir -p "$deps"
exec 9>"$deps/.lock"
flock 9

sys_pcpath=$(strip_own_pcpath)
if [ "$force" = 0 ] &&
   PKG_CONFIG_PATH="$sys_pcpath" pkg-config --atleast-version="$unicorn_min" unicorn 2>/dev/null; then
    ver=$(PKG_CONFIG_PATH="$sys_pcpath" pkg-config --modversion unicorn)
    libdir=$(PKG_CONFIG_PATH="$sys_pcpath" pkg-config --variable=libdir unicorn)
    log "Unicorn $ver (>= $unicorn_min) already found by pkg-config; nothing to fetch"
    write_env "$sys_pcpath" "$libdir"
    [ "$do_verify" = 1 ] && verify_unicorn "$sys_pcpath" "$libdir"
    log "PKG_CONFIG_PATH=${sys_pcpath}   (no change needed)"
    log "unicorn version: $ver"
    log "unicorn lib dir: $libdir"
    exit 0
fi

if [ "$force" = 0 ] && prefix_ok 2>/dev/null; then
    log "Unicorn already in ${prefix#"$root"/} ($(grep -v '^suite=' "$prefix/$stamp_name" | paste -sd',' - | sed 's/,/, /g')); no download needed"
    fresh=0
else
    fetch_unicorn
    fresh=1
fi

pcdir=$(own_pcdir)
libdir=$(dirname "$pcdir")
ver=$(PKG_CONFIG_LIBDIR="$pcdir" PKG_CONFIG_PATH="" pkg-config --modversion unicorn)
write_env "$pcdir" "$libdir"
if [ "$fresh" = 1 ] || [ "$do_verify" = 1 ]; then
    verify_unicorn "$pcdir" "$libdir"
fi
log "PKG_CONFIG_PATH=$pcdir"
log "unicorn version: $ver"
log "unicorn lib dir: $libdir   (use as rpath)"
log "env file: ${envfile#"$root"/}   (source it: . $envfile)"
