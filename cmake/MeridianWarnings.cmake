# Compiler warnings and sanitizers for Meridian's own targets (never for dependencies).
add_library(meridian_warnings INTERFACE)
target_compile_options(meridian_warnings INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
                            $<$<BOOL:${MERIDIAN_WERROR}>:-Werror>>
  $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Wall,-Wextra
                             $<$<BOOL:${MERIDIAN_WERROR}>:-Werror=all-warnings>>)
if(MERIDIAN_SANITIZE)
  target_compile_options(meridian_warnings INTERFACE
    $<$<COMPILE_LANGUAGE:CXX>:-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined>)
  target_link_options(meridian_warnings INTERFACE -fsanitize=address,undefined)
endif()
