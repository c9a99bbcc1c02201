# libtorch comes from the torch Python package (the pip wheel here, the image's torch on the GPU
# machine), located through torch.utils.cmake_prefix_path so both use one mechanism.
if(NOT EXISTS "${DITSTREAM_PYTHON}")
  find_program(_ditstream_python3 python3 REQUIRED)
  set(DITSTREAM_PYTHON "${_ditstream_python3}" CACHE FILEPATH "" FORCE)
endif()
execute_process(
  COMMAND "${DITSTREAM_PYTHON}" -c "import torch; print(torch.utils.cmake_prefix_path); print(torch.__version__); print(int(torch.version.cuda is not None))"
  OUTPUT_VARIABLE _torch_info OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE _torch_rc)
if(NOT _torch_rc EQUAL 0)
  message(FATAL_ERROR "ditstream: '${DITSTREAM_PYTHON}' cannot import torch; run scripts/setup first")
endif()
string(REPLACE "\n" ";" _torch_info "${_torch_info}")
list(GET _torch_info 0 _torch_prefix)
list(GET _torch_info 1 DITSTREAM_TORCH_VERSION)
list(GET _torch_info 2 _torch_has_cuda)
list(APPEND CMAKE_PREFIX_PATH "${_torch_prefix}")

find_program(_nvcc nvcc HINTS /usr/local/cuda/bin)
if(DITSTREAM_CUDA STREQUAL "AUTO")
  if(_nvcc AND _torch_has_cuda)
    set(DITSTREAM_WITH_CUDA ON)
  else()
    set(DITSTREAM_WITH_CUDA OFF)
  endif()
elseif(DITSTREAM_CUDA STREQUAL "ON")
  if(NOT _nvcc OR NOT _torch_has_cuda)
    message(FATAL_ERROR "DITSTREAM_CUDA=ON needs nvcc and a CUDA build of torch (found nvcc='${_nvcc}', torch cuda=${_torch_has_cuda})")
  endif()
  set(DITSTREAM_WITH_CUDA ON)
else()
  set(DITSTREAM_WITH_CUDA OFF)
endif()

if(DITSTREAM_WITH_CUDA)
  if(NOT CMAKE_CUDA_COMPILER)
    set(CMAKE_CUDA_COMPILER "${_nvcc}")
  endif()
  if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
    set(CMAKE_CUDA_ARCHITECTURES 90a)
  endif()
  set(CMAKE_CUDA_STANDARD 17)
  set(CMAKE_CUDA_EXTENSIONS OFF)
  enable_language(CUDA)
endif()

# A CUDA build of torch wants the CUDA toolkit at configure time even when ditstream's own CUDA
# sources are off; its config finds it through nvcc.
# Naming the architecture keeps torch's config from probing for a GPU (there is none on CI).
if(NOT DEFINED TORCH_CUDA_ARCH_LIST)
  set(TORCH_CUDA_ARCH_LIST "9.0a")
endif()
find_package(Torch REQUIRED)
message(STATUS "ditstream: torch ${DITSTREAM_TORCH_VERSION} from ${_torch_prefix}; CUDA kernels ${DITSTREAM_WITH_CUDA}")

# ATen and c10 only: torch/torch.h (autograd, nn) is never included, which keeps compiles short.
add_library(ditstream_torch INTERFACE)
target_link_libraries(ditstream_torch INTERFACE ${TORCH_LIBRARIES})
target_include_directories(ditstream_torch SYSTEM INTERFACE ${TORCH_INCLUDE_DIRS})
target_compile_options(ditstream_torch INTERFACE $<$<COMPILE_LANGUAGE:CXX>:${TORCH_CXX_FLAGS}>)
# The torch wheel's libtorch.so exports a copy of std::filesystem that crashes (remove_all calls
# through a null pointer). Listing libstdc++ before libtorch in each binary's DT_NEEDED makes
# the dynamic linker bind those symbols to the real libstdc++.
target_link_options(ditstream_torch INTERFACE "SHELL:-Wl,--push-state,--no-as-needed -lstdc++ -Wl,--pop-state")
if(DITSTREAM_WITH_CUDA)
  target_compile_definitions(ditstream_torch INTERFACE DITSTREAM_WITH_CUDA=1)
endif()
