add_library(ditstream_warnings INTERFACE)
target_compile_options(ditstream_warnings INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers>)
