# Turns a text file into a C++ header with one string constant:
#   cmake -DIN=file -DOUT=header -DNAME=kSymbol -P embed.cmake
file(READ "${IN}" content)
string(FIND "${content}" ")FULCRUM_EMBED\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${IN} contains the raw-string delimiter")
endif()
get_filename_component(src "${IN}" NAME)
file(WRITE "${OUT}.tmp" "// Generated from src/api/${src} by src/api/embed.cmake; do not edit.\n#pragma once\n\nnamespace fulcrum::api::generated {\ninline constexpr char ${NAME}[] = R\"FULCRUM_EMBED(${content})FULCRUM_EMBED\";\n}  // namespace fulcrum::api::generated\n")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUT}.tmp")
