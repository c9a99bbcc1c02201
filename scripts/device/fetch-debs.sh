#!/usr/bin/env bash
# Run on a Debian 12 machine with network: downloads the Debian packages that the GPU machine's
# image lacks into .deps/ (git-ignored), to be carried to the GPU machine and unpacked there by
# scripts/device/env.sh. `core` is enough for the model library, tests and benchmarks; `service`
# adds GStreamer, Boost and Vulkan for the whole service. `wheels` fills .whl/ with the Python
# wheels the GPU machine's Python 3.12 lacks: diffusers (the reference) and the cuDNN frontend
# headers (FP8 attention).
set -euo pipefail
cd "$(dirname "$0")/../.."
CORE=(nlohmann-json3-dev libspdlog-dev libspdlog1.10 libfmt-dev libfmt9 libgtest-dev libgmock-dev googletest
      libcli11-dev libpcre2-dev libpcre2-8-0 libpcre2-16-0 libpcre2-32-0 libpcre2-posix3 libsqlite3-dev
      libicu-dev libicu72)
SERVICE=(libboost1.81-dev libglib2.0-0 libglib2.0-dev libglib2.0-dev-bin libgstreamer1.0-0 libgstreamer1.0-dev
         libgstreamer-plugins-base1.0-0 libgstreamer-plugins-base1.0-dev libgstreamer-plugins-bad1.0-0
         libgstreamer-plugins-bad1.0-dev gstreamer1.0-plugins-base gstreamer1.0-plugins-good
         gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-nice gstreamer1.0-tools
         gstreamer1.0-plugins-base-apps libnice10 libnice-dev libx264-164 libvpx7 libsrtp2-1 libusrsctp2 liborc-0.4-0
         libvulkan1 libvulkan-dev glslc libglvnd0 libgl1 libglx0 libegl1 libopengl0 libgles2
         libblkid-dev libdw-dev libelf-dev libffi-dev liblzma-dev libmount-dev liborc-0.4-dev libselinux1-dev
         libsepol-dev libunwind-dev zlib1g-dev)
sets=("$@")
[ ${#sets[@]} -gt 0 ] || sets=(core)
for set in "${sets[@]}"; do
  if [ "$set" = wheels ]; then
    pip=${DITSTREAM_PYTHON:-.venv/bin/python}
    "$pip" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 -d .whl \
      diffusers==0.42.1 importlib_metadata==10.2.0 nvidia-cudnn-frontend==1.32.0
    du -sh .whl
    continue
  fi
  declare -n pkgs=${set^^}
  mkdir -p ".deps/$set"
  (cd ".deps/$set" && apt-get download "${pkgs[@]}")
done
du -sh .deps/*
