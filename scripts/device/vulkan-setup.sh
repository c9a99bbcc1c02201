#!/usr/bin/env bash
# Vulkan on the GPU machine, sourced after scripts/device/env.sh (bash, from the repository root):
#   source scripts/device/env.sh && source scripts/device/vulkan-setup.sh
# The machine's image has the NVIDIA driver and its Vulkan ICD but no Vulkan loader, no GL vendor
# libraries the ICD loads and no glslc. They travel as Debian packages in .deps/vulkan/, fetched
# on a Debian 12 machine with network by `scripts/device/vulkan-setup.sh --download`; here they
# are unpacked into the dependency prefix (never onto /), and the loader is pointed at NVIDIA's
# ICD with VK_DRIVER_FILES.
VULKAN_PACKAGES=(libvulkan1 libvulkan-dev glslc libshaderc1 libglvnd0 libgl1 libglx0 libegl1 libopengl0 libgles2)

if [ "${1:-}" = "--download" ]; then
  set -euo pipefail
  cd "$(dirname "${BASH_SOURCE[0]}")/../.."
  mkdir -p .deps/vulkan
  (cd .deps/vulkan && apt-get download "${VULKAN_PACKAGES[@]}")
  du -sh .deps/vulkan
  exit 0
fi

DEPS_PREFIX=${DEPS_PREFIX:-/tmp/ditstream-deps}
export DEPS_PREFIX
mkdir -p "$DEPS_PREFIX"
# env.sh has unpacked .deps/*/ already; .gl/ (the loader packages alone) is unpacked here.
if [ ! -e "$DEPS_PREFIX/usr/lib/x86_64-linux-gnu/libvulkan.so.1" ]; then
  for deb in .deps/vulkan/*.deb .gl/*.deb; do
    if [ -f "$deb" ]; then dpkg -x "$deb" "$DEPS_PREFIX"; fi
  done
fi
case ":${LD_LIBRARY_PATH:-}:" in
  *":$DEPS_PREFIX/usr/lib/x86_64-linux-gnu:"*) ;;
  *) export LD_LIBRARY_PATH="$DEPS_PREFIX/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}" ;;
esac
export PATH="$DEPS_PREFIX/usr/bin:$PATH"
export CMAKE_PREFIX_PATH="$DEPS_PREFIX/usr:${CMAKE_PREFIX_PATH:-}"
export VULKAN_SDK="$DEPS_PREFIX/usr"
export VK_DRIVER_FILES=${VK_DRIVER_FILES:-/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json}
export __EGL_VENDOR_LIBRARY_FILENAMES=${__EGL_VENDOR_LIBRARY_FILENAMES:-/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json}

vulkan_setup_ok=1
if [ ! -e "$DEPS_PREFIX/usr/lib/x86_64-linux-gnu/libvulkan.so.1" ] && ! ldconfig -p | grep -q libvulkan.so.1; then
  echo "vulkan-setup: no Vulkan loader: carry .deps/vulkan (scripts/device/vulkan-setup.sh --download)" >&2
  vulkan_setup_ok=0
fi
if [ ! -f "$VK_DRIVER_FILES" ]; then
  echo "vulkan-setup: no ICD file at $VK_DRIVER_FILES" >&2
  vulkan_setup_ok=0
fi
command -v glslc >/dev/null || { echo "vulkan-setup: glslc missing (package glslc + libshaderc1)" >&2; vulkan_setup_ok=0; }
echo "vulkan-setup: prefix $DEPS_PREFIX, VK_DRIVER_FILES=$VK_DRIVER_FILES, ok=$vulkan_setup_ok"
