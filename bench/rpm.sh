# make_rpm, shared by bench/run.sh, bench/replicate.sh and bench/patch.sh (sourced; uses their
# CACHE, WORK and log).

# An RPM named oceanbase-ce (type OB_SERVER_INSTALL_PACKAGE), or NAME, whose
# payload is MiB mebibytes from /dev/urandom, stored uncompressed (w0.ufdio).
make_rpm() { # MiB [NAME] -> path
    local mib=$1 name=${2:-oceanbase-ce}
    local out=$CACHE/rpms/$name-4.2.1.0-$mib.el7.x86_64.rpm
    if [ ! -s "$out" ]; then
        log "building a $mib MiB RPM with rpmbuild (cached in $CACHE/rpms)"
        mkdir -p "$CACHE/rpms" "$WORK/rpmbuild"
        cat >"$WORK/rpmbuild/bench.spec" <<'SPEC'
%define _binary_payload w0.ufdio
%define _build_id_links none
%define debug_package %{nil}
%define __os_install_post %{nil}
Name: %{bench_name}
Version: 4.2.1.0
Release: %{bench_mib}.el7
Summary: depot benchmark payload
License: Apache-2.0
%description
An incompressible payload for depot's benchmarks.
%install
mkdir -p %{buildroot}/home/admin/oceanbase
head -c %{bench_bytes} /dev/urandom > %{buildroot}/home/admin/oceanbase/payload.bin
%files
/home/admin/oceanbase/payload.bin
SPEC
        rpmbuild -bb --quiet --target x86_64 --define "_topdir $WORK/rpmbuild/top" \
            --define "bench_name $name" --define "bench_mib $mib" --define "bench_bytes $((mib << 20))" \
            "$WORK/rpmbuild/bench.spec" >/dev/null 2>&1
        mv "$WORK/rpmbuild/top/RPMS/x86_64/$(basename "$out")" "$out.tmp"
        mv "$out.tmp" "$out"
        rm -rf "$WORK/rpmbuild"
    fi
    echo "$out"
}
