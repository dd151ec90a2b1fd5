# SPDX-License-Identifier: GPL-2.0-or-later
# The layers of core/ (ARCHITECTURE.md). Each is a static library named
# pkgunify_<layer> in core/<layer>/, and may use only the layers it names in
# DEPENDS: the libraries are linked accordingly, and the layer check
# (cmake/check-layers.sh, run by every build) fails the build when a file
# includes a header of a layer its own layer does not depend on, a private
# header (<layer>/internal/) of another layer, or a header not named from the
# project's root ("sys/fd.hpp", never "fd.hpp").
#
#   pkgunify_layer(NAME SOURCES file... [DEPENDS layer...] [LIBS target...])
#
# LIBS are further libraries linked privately (OpenSSL, librpm, ...).
set_property(GLOBAL PROPERTY PKGUNIFY_LAYER_RULES "")

function(pkgunify_layer name)
  cmake_parse_arguments(PARSE_ARGV 1 L "" "" "SOURCES;DEPENDS;LIBS")
  add_library(pkgunify_${name} STATIC ${L_SOURCES})
  target_include_directories(pkgunify_${name} PUBLIC ${PROJECT_SOURCE_DIR}/core)
  foreach(dep IN LISTS L_DEPENDS)
    target_link_libraries(pkgunify_${name} PUBLIC pkgunify_${dep})
  endforeach()
  if(L_LIBS)
    target_link_libraries(pkgunify_${name} PRIVATE ${L_LIBS})
  endif()
  pkgunify_layer_rule(core/${name} ${name} ${L_DEPENDS})
  set_property(GLOBAL APPEND PROPERTY PKGUNIFY_LAYERS ${name})
endfunction()

# The layers a folder outside the libraries may use (the CLI, the rpm plugin).
function(pkgunify_layer_rule folder)
  list(JOIN ARGN "," allowed)
  set_property(GLOBAL APPEND PROPERTY PKGUNIFY_LAYER_RULES "${folder}=${allowed}")
endfunction()

# Runs the layer check over every C++ file below core/, rpm-plugin/ and
# guest-client/ as part of the build (target pkgunify_layer_check, which
# every layer's library from core/ depends on).
function(pkgunify_layer_check)
  get_property(rules GLOBAL PROPERTY PKGUNIFY_LAYER_RULES)
  list(JOIN rules "|" rules)  # one argument on the command line
  file(GLOB_RECURSE sources CONFIGURE_DEPENDS
       ${PROJECT_SOURCE_DIR}/core/*.cpp ${PROJECT_SOURCE_DIR}/core/*.hpp
       ${PROJECT_SOURCE_DIR}/rpm-plugin/*.cpp ${PROJECT_SOURCE_DIR}/rpm-plugin/*.hpp
       ${PROJECT_SOURCE_DIR}/guest-client/*.cpp ${PROJECT_SOURCE_DIR}/guest-client/*.hpp)
  set(stamp ${CMAKE_BINARY_DIR}/layer-check.stamp)
  add_custom_command(
    OUTPUT ${stamp}
    COMMAND sh ${PROJECT_SOURCE_DIR}/cmake/check-layers.sh ${PROJECT_SOURCE_DIR} ${stamp} "${rules}"
    DEPENDS ${sources} ${PROJECT_SOURCE_DIR}/cmake/check-layers.sh
    COMMENT "Checking the layers of core/ (ARCHITECTURE.md)"
    VERBATIM)
  add_custom_target(pkgunify_layer_check ALL DEPENDS ${stamp})
  get_property(layers GLOBAL PROPERTY PKGUNIFY_LAYERS)
  foreach(layer IN LISTS layers)
    add_dependencies(pkgunify_${layer} pkgunify_layer_check)
  endforeach()
endfunction()
