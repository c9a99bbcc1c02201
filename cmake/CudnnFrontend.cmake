# FP8 attention runs through cuDNN's graph API, reached with NVIDIA's header-only cuDNN frontend
# (the nvidia-cudnn-frontend wheel installs its headers under <site-packages>/include) against
# the cuDNN that torch loads (the nvidia-cudnn wheel). Without either the build goes on and FP8
# attention reports itself unavailable.
set(DITSTREAM_WITH_FP8_ATTENTION OFF)
if(DITSTREAM_WITH_CUDA)
  execute_process(
    COMMAND "${DITSTREAM_PYTHON}" -c "import sys; print(';'.join(p for p in sys.path if p))"
    OUTPUT_VARIABLE _python_paths OUTPUT_STRIP_TRAILING_WHITESPACE)
  set(_frontend_hints "")
  set(_cudnn_include_hints "")
  set(_cudnn_lib_hints "")
  foreach(_p IN LISTS _python_paths)
    list(APPEND _frontend_hints "${_p}/include")
    list(APPEND _cudnn_include_hints "${_p}/nvidia/cudnn/include")
    list(APPEND _cudnn_lib_hints "${_p}/nvidia/cudnn/lib")
  endforeach()
  find_path(DITSTREAM_CUDNN_FRONTEND_INCLUDE cudnn_frontend.h HINTS ${_frontend_hints} NO_DEFAULT_PATH)
  find_path(DITSTREAM_CUDNN_INCLUDE cudnn.h HINTS ${_cudnn_include_hints} /usr/include /usr/local/cuda/include)
  find_library(DITSTREAM_CUDNN_LIBRARY NAMES cudnn libcudnn.so.9 HINTS ${_cudnn_lib_hints} /usr/lib/x86_64-linux-gnu)
  if(DITSTREAM_CUDNN_FRONTEND_INCLUDE AND DITSTREAM_CUDNN_INCLUDE AND DITSTREAM_CUDNN_LIBRARY)
    set(DITSTREAM_WITH_FP8_ATTENTION ON)
  endif()
  message(STATUS "ditstream: FP8 attention ${DITSTREAM_WITH_FP8_ATTENTION} (cuDNN frontend: "
                 "${DITSTREAM_CUDNN_FRONTEND_INCLUDE}, cuDNN: ${DITSTREAM_CUDNN_LIBRARY})")
endif()
