# Sourced at the start of every GPU-machine run: unpacks the carried Debian packages (.deps/*) into
# a prefix and points the build and the loaders at it; carried Python wheels (.whl) go to a
# site folder. Keeps NVLink multicast off, as that machine requires.
# (sourced: leaves the caller's shell options alone)
export DEPS_PREFIX=${DEPS_PREFIX:-/tmp/ditstream-deps}
# Unpacked once per set of carried files: the scripts that source this one may source each other.
deps_stamp=$( (ls -l .deps/*/* 2>/dev/null; echo "$DEPS_PREFIX") | cksum | cut -d' ' -f1)
if [ -d .deps ] && [ "$(cat "$DEPS_PREFIX/.unpacked" 2>/dev/null)" != "$deps_stamp" ]; then
  mkdir -p "$DEPS_PREFIX"
  for deb in .deps/*/*.deb; do [ -f "$deb" ] && dpkg -x "$deb" "$DEPS_PREFIX"; done
  # A packed prefix (scripts/device/pack_deps.py); its usr/lib/fallback libraries are linked in
  # only where the machine has none of that name, so the machine's own copies win.
  for archive in .deps/*/*.tar.xz; do [ -f "$archive" ] && tar -xJf "$archive" -C "$DEPS_PREFIX"; done
  if [ -d "$DEPS_PREFIX/usr/lib/fallback" ]; then
    have=$(ldconfig -p | awk 'NR > 1 {print $1}')
    for lib in "$DEPS_PREFIX"/usr/lib/fallback/*; do
      name=${lib##*/}
      grep -qxF "$name" <<<"$have" || ln -sf "../fallback/$name" "$DEPS_PREFIX/usr/lib/x86_64-linux-gnu/$name"
    done
    unset have lib name
  fi
  echo "$deps_stamp" >"$DEPS_PREFIX/.unpacked"
fi
unset deps_stamp
export CMAKE_PREFIX_PATH="$DEPS_PREFIX/usr:${CMAKE_PREFIX_PATH:-}"
export PKG_CONFIG_PATH="$DEPS_PREFIX/usr/lib/x86_64-linux-gnu/pkgconfig:$DEPS_PREFIX/usr/share/pkgconfig"
export PKG_CONFIG_SYSROOT_DIR="$DEPS_PREFIX"
export LD_LIBRARY_PATH="$DEPS_PREFIX/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}"
export CPATH="$DEPS_PREFIX/usr/include:${CPATH:-}"
export PATH="$DEPS_PREFIX/usr/bin:$PATH"
export GST_PLUGIN_SYSTEM_PATH="$DEPS_PREFIX/usr/lib/x86_64-linux-gnu/gstreamer-1.0"
export GST_PLUGIN_SCANNER="$DEPS_PREFIX/usr/lib/x86_64-linux-gnu/gstreamer1.0/gstreamer-1.0/gst-plugin-scanner"
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
fi
export DITSTREAM_PYTHON=$(command -v python3)
