#!/usr/bin/env python3
"""Packs what building and running the whole service needs on the GPU machine into one prefix
archive, small enough to travel with a GPU run: the installed Debian 12 packages of this machine
(`dpkg -L`), less what neither the build nor the run uses.

    scripts/device/pack_deps.py [--build-dir build] [--out .deps/e2e/prefix.tar.xz]

Run it on the Debian 12 development machine, after a full build with the service (the build's
dependency records name the Boost headers that are used). scripts/device/env.sh unpacks the
archive into $DEPS_PREFIX on the GPU machine.

What goes in:
  - the packages the build needs (headers, pkg-config files, CMake configs, link-time .so links),
    and the -dev packages of every module their pkg-config files require, privately or not
    (pkg-config reads them all for --cflags);
  - the packages the run needs: GLib, GStreamer with the plugins the service, its viewer and the
    mp4 encoder use (the rest of the plugins stay out), libnice, x264, OpenH264, SRTP, SCTP,
    ICU, spdlog, fmt, PCRE2, SQLite, the Vulkan loader with the GL vendor libraries NVIDIA's ICD needs,
    glslc;
  - every further shared library those need (ELF DT_NEEDED, to closure), except glibc's and the
    C++ runtime's, in usr/lib/fallback/: env.sh links one in only where the machine lacks it, so
    the machine's own copies win.
What stays out: static libraries (except GoogleTest's, which its CMake config checks), Boost
headers no compiled file includes, documentation, translations, manuals.
Checks before writing: every pkg-config module resolves from the prefix alone, and every ELF
file's DT_NEEDED resolves within the prefix, the fallback or glibc/libstdc++.
"""
import argparse
import functools
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile

ARCH = "x86_64-linux-gnu"
BUILD_PACKAGES = [
    "nlohmann-json3-dev", "libspdlog-dev", "libfmt-dev", "libgtest-dev", "libgmock-dev", "libcli11-dev",
    "libpcre2-dev", "libsqlite3-dev", "libicu-dev", "libboost1.81-dev", "libglib2.0-dev", "libglib2.0-dev-bin",
    "libgstreamer1.0-dev", "libgstreamer-plugins-base1.0-dev", "libgstreamer-plugins-bad1.0-dev", "libnice-dev",
    "libvulkan-dev", "glslc", "libjs-chart.js",
]
RUN_PACKAGES = [
    "libspdlog1.10", "libfmt9", "libpcre2-8-0", "libicu72", "libsqlite3-0", "libglib2.0-0", "libgstreamer1.0-0",
    "libgstreamer-plugins-base1.0-0", "libgstreamer-plugins-bad1.0-0", "gstreamer1.0-plugins-base",
    "gstreamer1.0-plugins-good", "gstreamer1.0-plugins-bad", "gstreamer1.0-plugins-ugly", "gstreamer1.0-nice",
    "gstreamer1.0-tools", "libnice10", "libx264-164", "libopenh264-7", "libsrtp2-1", "liborc-0.4-0",
    "libvulkan1", "libshaderc1", "libglvnd0", "libgl1", "libglx0", "libegl1", "libopengl0", "libgles2",
]
# The pkg-config modules CMake asks for (cmake/Dependencies.cmake, stream/gst, core/model/text).
PC_MODULES = ["libpcre2-8", "icu-uc", "nice", "gstreamer-1.0", "gstreamer-app-1.0", "gstreamer-video-1.0",
              "gstreamer-sdp-1.0", "gstreamer-webrtc-1.0", "gstreamer-pbutils-1.0"]
# GStreamer plugins: the service (appsrc, x264enc, tee, queue, rtph264pay, webrtcbin and what it
# builds inside: rtpbin, nice, DTLS, SRTP, SCTP), its recorder (h264parse, mp4mux, filesink), the
# test viewer (rtph264depay, openh264dec, videoconvert, appsink) and the mp4 fallback of
# diffusers_e2e.py (fdsrc, rawvideoparse).
PLUGINS = ["coreelements", "app", "videoconvertscale", "rawparse", "videotestsrc", "typefindfunctions", "x264",
           "rtp", "rtpmanager", "isomp4", "webrtc", "dtls", "srtp", "sctp", "nice", "videoparsersbad", "openh264"]
BINARIES = ["usr/bin/gst-launch-1.0", "usr/bin/gst-inspect-1.0", "usr/bin/glslc"]
# Always on the machine (and never to be shadowed): glibc and the C++ runtime.
SYSTEM_SONAMES = {"libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2", "librt.so.1", "libresolv.so.2",
                  "ld-linux-x86-64.so.2", "libstdc++.so.6", "libgcc_s.so.1", "libutil.so.1", "libanl.so.1"}
# Shared libraries the service, the client and glslc link or load themselves (the GL vendor
# libraries are loaded by NVIDIA's Vulkan ICD); with the plugins and binaries they are the roots
# of the closure, and libraries of the packages that nothing reaches stay out.
ROOT_LIBS = ["libvulkan.so.1", "libspdlog.so.1.10", "libfmt.so.9", "libsqlite3.so.0", "libGL.so.1", "libGLX.so.0",
             "libGLdispatch.so.0", "libEGL.so.1", "libOpenGL.so.0", "libGLESv2.so.2"]
DROP_DIRS = ("usr/share/doc/", "usr/share/man/", "usr/share/locale/", "usr/share/info/", "usr/share/lintian/",
             "usr/share/gtk-doc/", "usr/share/bug/", "usr/share/bash-completion/", "usr/share/gdb/",
             "usr/share/gettext/", "usr/share/glib-2.0/codegen/", "usr/share/gstreamer-1.0/gdb/",
             "usr/share/glib-2.0/gdb/", "usr/share/aclocal/", "usr/src/", "usr/share/gir-1.0/", "usr/share/vala/",
             "usr/share/vulkan/registry/", "usr/share/python3/")


def run(*cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def owner(path):
    """The installed package holding `path` (merged /usr: registered under /lib or /usr/lib)."""
    for p in (path, path[len("/usr"):] if path.startswith("/usr/lib/") else "/usr" + path):
        r = subprocess.run(["dpkg", "-S", p], capture_output=True, text=True)
        if r.returncode == 0:
            return r.stdout.splitlines()[0].split(":")[0]
    sys.exit(f"no installed package holds {path}")


def package_files(pkg):
    """Files (and symlinks) of an installed package, relative to /, merged-/usr paths normalised."""
    listing = subprocess.run(["dpkg", "-L", pkg], capture_output=True, text=True)
    if listing.returncode != 0:
        sys.exit(f"package {pkg} is not installed here (scripts/setup installs what the service needs)")
    files = []
    for line in listing.stdout.splitlines():
        if not os.path.islink(line) and not os.path.isfile(line):
            continue
        rel = line.lstrip("/")
        if rel.startswith("lib/"):
            rel = "usr/" + rel
        files.append((line, rel))
    return files


def pc_closure(modules):
    """Every pkg-config module reachable through Requires and Requires.private."""
    seen, todo = set(), list(modules)
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        for flag in ("--print-requires", "--print-requires-private"):
            for line in run("pkg-config", flag, m).splitlines():
                if line.strip():
                    todo.append(line.split()[0])
    return seen


def pc_file(module):
    return os.path.join(run("pkg-config", "--variable=pcfiledir", module).strip(), module + ".pc")


def is_elf(path):
    with open(path, "rb") as fh:
        return fh.read(4) == b"\x7fELF"


@functools.lru_cache(maxsize=None)
def elf_info(path):
    """(soname, [needed]) of an ELF file."""
    out = run("readelf", "-d", "-W", path)
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)
    soname = re.findall(r"\(SONAME\)\s+Library soname: \[([^\]]+)\]", out)
    return (soname[0] if soname else None), needed


def elf_files(top):
    out = []
    for d, _, names in os.walk(top):
        for n in names:
            p = os.path.join(d, n)
            if not os.path.islink(p) and os.path.isfile(p) and is_elf(p):
                out.append(p)
    return out


def linked_libs(root, libdir, modules):
    """Sonames of the libraries `pkg-config --libs` links for `modules` (from the prefix)."""
    out = []
    for flag in run("pkg-config", "--libs-only-l", *modules).split():
        link = os.path.join(libdir, f"lib{flag[2:]}.so")
        if not os.path.exists(link):
            sys.exit(f"{link}: pkg-config links it, the packed packages lack it")
        soname, _ = elf_info(os.path.realpath(link))
        out.append(soname)
    return out


@functools.lru_cache(maxsize=None)
def ldconfig_cache():
    return run("ldconfig", "-p")


def system_path(soname):
    for line in ldconfig_cache().splitlines():
        parts = line.strip().split(" => ")
        if len(parts) == 2 and parts[0].split()[0] == soname and "x86-64" in parts[0]:
            return parts[1]
    return None


# Headers the machine's own toolchain brings (C library, kernel, C++ library, compiler).
TOOLCHAIN = re.compile(r"^(libc6-dev|linux-libc-dev|libstdc\+\+-\d+-dev|libgcc-\d+-dev|gcc-\d+|libcrypt-dev)$")


def used_headers(build_dir):
    """Every file under /usr that the build's compiled files include (ninja's dependency records)."""
    out = run("ninja", "-C", build_dir, "-t", "deps")
    headers = {line.strip() for line in out.splitlines() if line.startswith("    /usr/")}
    headers = {h for h in headers if not h.startswith(("/usr/local/", "/usr/lib/gcc/"))}  # CUDA, compiler
    if not any("/usr/include/boost/" in h for h in headers):
        sys.exit(f"{build_dir}: no Boost headers in the dependency records; build the service there first")
    return headers


def check_headers(headers, root):
    """Every used header is in the prefix or comes with the toolchain."""
    missing = sorted(h for h in headers if not os.path.exists(os.path.join(root, h.lstrip("/"))))
    owners = {}
    for i in range(0, len(missing), 200):
        r = subprocess.run(["dpkg", "-S"] + missing[i:i + 200], capture_output=True, text=True)
        for line in r.stdout.splitlines():
            pkgs, path = line.split(": ", 1)
            for pkg in pkgs.split(", "):
                owners.setdefault(path, set()).add(pkg.split(":")[0])
    bad = [f"{h} ({', '.join(sorted(owners.get(h, {'no package'})))})" for h in missing
           if not any(TOOLCHAIN.match(p) for p in owners.get(h, ()))]
    if bad:
        sys.exit("headers the build includes but the prefix lacks:\n  " + "\n  ".join(bad))


def keep(rel, boost):
    if rel.startswith(DROP_DIRS):
        return False
    if rel.endswith(".a") and not re.search(r"/lib(gtest|gmock)(_main)?\.a$", rel):
        return False
    if rel.startswith("usr/include/boost/"):
        return rel in boost
    if rel.startswith("usr/include/vulkan/") and rel.endswith(".hpp"):
        return False  # the C++ bindings: the project includes vulkan/vulkan.h
    plugin = re.match(rf"usr/lib/{ARCH}/gstreamer-1\.0/libgst(\w+)\.so$", rel)
    if plugin:
        return plugin.group(1) in PLUGINS
    if rel.startswith("usr/bin/"):
        return rel in BINARIES
    return True


# Libraries loaded with dlopen by a library of the closure, packed beside it.
DLOPENED = {"libnss3.so": ["libsoftokn3.so", "libfreeblpriv3.so", "libfreebl3.so", "libnssdbm3.so"]}


def close_over(todo, reached, sonames, add_fallback, root):
    """The DT_NEEDED closure of `todo`; what the prefix lacks is copied in as a fallback library."""
    while todo:
        p = todo.pop()
        if p in reached:
            continue
        reached.add(p)
        for soname in elf_info(p)[1]:
            if soname in SYSTEM_SONAMES:
                continue
            if soname not in sonames:
                src = system_path(soname)
                if src is None:
                    sys.exit(f"{soname} (needed by {os.path.relpath(p, root)}) is not installed here")
                add_fallback(soname, src)
            todo.append(sonames[soname])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build-dir", default="build")
    ap.add_argument("--out", default=".deps/e2e/prefix.tar.xz")
    args = ap.parse_args()

    headers = used_headers(args.build_dir)
    boost = {h.lstrip("/") for h in headers if h.startswith("/usr/include/boost/")} | {"usr/include/boost/version.hpp"}
    pc_modules = pc_closure(PC_MODULES)
    packages = set(BUILD_PACKAGES) | set(RUN_PACKAGES) | {owner(pc_file(m)) for m in pc_modules}
    with tempfile.TemporaryDirectory() as tmp:
        root = os.path.join(tmp, "prefix")
        libdir = os.path.join(root, "usr", "lib", ARCH)
        fallback = os.path.join(root, "usr", "lib", "fallback")
        for pkg in sorted(packages):
            for src, rel in package_files(pkg):
                if not keep(rel, boost):
                    continue
                dst = os.path.join(root, rel)
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                if os.path.lexists(dst):
                    continue
                if os.path.islink(src):
                    os.symlink(os.readlink(src), dst)
                else:
                    shutil.copy2(src, dst)

        # Soname links (ldconfig -n), then the shared-library closure from the roots.
        sonames = {}  # soname → file in the prefix
        for p in elf_files(root):
            soname, _ = elf_info(p)
            if soname:
                sonames.setdefault(soname, p)
                link = os.path.join(os.path.dirname(p), soname)
                if not os.path.lexists(link):
                    os.symlink(os.path.basename(p), link)
        roots = [p for p in elf_files(root) if not p.startswith(libdir + "/lib")]  # plugins, binaries, scanner
        for name in ROOT_LIBS + linked_libs(root, libdir, PC_MODULES):
            if name not in sonames:
                sys.exit(f"{name}: no such library in the packed packages")
            roots.append(sonames[name])
        reached, todo, fallback_libs = set(), list(roots), []

        def add_fallback(soname, src):
            os.makedirs(fallback, exist_ok=True)
            sonames[soname] = os.path.join(fallback, soname)
            shutil.copy2(os.path.realpath(src), sonames[soname])
            fallback_libs.append(f"{soname} ({owner(os.path.realpath(src))})")

        while True:
            close_over(todo, reached, sonames, add_fallback, root)
            # Modules a reached library loads with dlopen (no DT_NEEDED names them): NSS, which
            # libsrtp2 uses for its ciphers, fails to initialise without its soft token.
            extra = [m for lib, modules in DLOPENED.items() if lib in sonames and sonames[lib] in reached
                     for m in modules if m not in sonames and system_path(m)]
            if not extra:
                break
            for m in extra:
                add_fallback(m, system_path(m))
                todo.append(sonames[m])
        # Libraries of the packed packages that nothing reaches, and links left dangling by them.
        dropped = 0
        for p in elf_files(libdir):
            if os.path.dirname(p) == libdir and p not in reached:
                os.remove(p)
                dropped += 1
        for d, _, names in os.walk(root):
            for n in names:
                p = os.path.join(d, n)
                if os.path.islink(p) and not os.path.exists(p):
                    os.remove(p)

        check_headers(headers, root)
        # pkg-config from the prefix alone must answer for every module CMake asks for.
        pc_dirs = [os.path.join(libdir, "pkgconfig"), os.path.join(root, "usr", "share", "pkgconfig")]
        env = dict(os.environ, PKG_CONFIG_LIBDIR=":".join(pc_dirs), PKG_CONFIG_PATH="", PKG_CONFIG_SYSROOT_DIR=root)
        check = subprocess.run(["pkg-config", "--cflags", "--libs"] + PC_MODULES, env=env, capture_output=True, text=True)
        if check.returncode != 0:
            sys.exit("pkg-config cannot resolve from the prefix alone: " + check.stderr)

        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with tarfile.open(args.out, "w:xz", preset=9) as tar:
            for entry in sorted(os.listdir(root)):
                tar.add(os.path.join(root, entry), arcname=entry)
    size = os.path.getsize(args.out)
    print(f"{len(packages)} packages ({len(pc_modules)} pkg-config modules), {len(boost)} Boost headers, "
          f"{dropped} unreached libraries left out, {len(fallback_libs)} fallback libraries:")
    print("  " + "\n  ".join(sorted(fallback_libs)))
    print(f"wrote {args.out}: {size / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
