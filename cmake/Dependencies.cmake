# System libraries (Debian packages; scripts/setup installs them, scripts/device carries them).
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
# -pthread on every target that links Threads::Threads (the core and all that builds on it), even
# where glibc needs no flag: GStreamer's pkg-config flags carry it, and one set of flags everywhere
# lets every test reuse the core's precompiled header.
set_property(TARGET Threads::Threads APPEND PROPERTY INTERFACE_COMPILE_OPTIONS $<$<COMPILE_LANGUAGE:CXX>:-pthread>)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(CLI11 REQUIRED)
find_package(SQLite3 REQUIRED)
find_package(spdlog REQUIRED)
pkg_check_modules(PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)
if(DITSTREAM_SERVICE)
  find_package(Boost 1.81 REQUIRED)
  pkg_check_modules(GST REQUIRED IMPORTED_TARGET
    gstreamer-1.0 gstreamer-app-1.0 gstreamer-video-1.0 gstreamer-sdp-1.0 gstreamer-webrtc-1.0
    gstreamer-pbutils-1.0)
  find_package(Vulkan REQUIRED COMPONENTS glslc)
endif()
