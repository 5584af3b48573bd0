# Helpers that give every Chord target the same shape: warnings, include root, test registration.

set(CHORD_WARNING_FLAGS -Wall -Wextra)
# Linked into every executable (chord_add_binary, chord_add_test); the sanitizer builds add their
# runtime support here (cmake/ChordSanitizers.cmake).
set(CHORD_EXECUTABLE_EXTRA_LIBS)

# Debug information of RelWithDebInfo builds (the default build type). Full DWARF (-g) of
# LibTorch- and gRPC-heavy translation units costs a large share of the build and gigabytes of
# objects; line tables (-g1) keep file:line backtraces and profiles for a fraction of it.
set(CHORD_DEBUG_INFO "lines" CACHE STRING
  "Debug information of RelWithDebInfo builds: full (-g), lines (-g1) or none (-g0)")
set_property(CACHE CHORD_DEBUG_INFO PROPERTY STRINGS full lines none)
if(CHORD_DEBUG_INFO STREQUAL "lines")
  add_compile_options($<$<CONFIG:RelWithDebInfo>:-g1>)
elseif(CHORD_DEBUG_INFO STREQUAL "none")
  add_compile_options($<$<CONFIG:RelWithDebInfo>:-g0>)
elseif(NOT CHORD_DEBUG_INFO STREQUAL "full")
  message(FATAL_ERROR "CHORD_DEBUG_INFO: full, lines or none, got \"${CHORD_DEBUG_INFO}\"")
endif()

# Every target compiles with -pthread (gRPC's and LibTorch's targets ask for it; one setting for
# all keeps the precompiled headers below usable everywhere: GCC refuses one built with another
# _REENTRANT).
add_compile_options(-pthread)

# Precompiled gRPC/Protobuf headers (~100k lines after preprocessing, in every generated *.pb.cc
# and every client and adapter): precompiled once per kind of target and reused (REUSE_FROM) by
# the targets that name `PCH grpc`. GCC uses a precompiled header only with the same -fPIC/-fPIE
# and debug-info settings, so the set is built twice: once for static libraries (PIC), once for
# executables (PIE). LibTorch's headers are not precompiled: measured on the 2-core machine, a
# precompiled torch/torch.h (680 MB) took longer to load than the files that include it saved, and
# cost ~20 s in every file that does not (docs/benchmarks.md#cold-build); its targets use unity
# groups instead (chord_unity_group). Off: every file parses its headers itself.
option(CHORD_PRECOMPILED_HEADERS "Precompile the gRPC and Protobuf headers" ON)
set(CHORD_PCH_GRPC_HEADERS
  <grpcpp/grpcpp.h>
  <google/protobuf/message.h>
  <google/protobuf/generated_message_reflection.h>
  <google/protobuf/repeated_field.h>
  <google/protobuf/extension_set.h>
  <google/protobuf/map_field_inl.h>
  <google/protobuf/unknown_field_set.h>)
if(CHORD_PRECOMPILED_HEADERS)
  # The anchors compile one empty file each: their objects are not linked anywhere.
  add_library(chord_pch_grpc_lib OBJECT ${PROJECT_SOURCE_DIR}/cmake/pch_anchor.cc)
  add_executable(chord_pch_grpc_exe ${PROJECT_SOURCE_DIR}/cmake/pch_anchor_main.cc)
  set_target_properties(chord_pch_grpc_exe PROPERTIES EXCLUDE_FROM_ALL ON)
  foreach(_anchor chord_pch_grpc_lib chord_pch_grpc_exe)
    target_link_libraries(${_anchor} PRIVATE gRPC::grpc++ protobuf::libprotobuf)
    target_precompile_headers(${_anchor} PRIVATE ${CHORD_PCH_GRPC_HEADERS})
  endforeach()
endif()

# Unity groups: the files of a group compile as one translation unit, so the LibTorch headers
# they all include are parsed, and their inline code generated, once per group instead of once
# per file. Files of one group must not define the same name in an anonymous namespace.
option(CHORD_UNITY_BUILD "Compile the LibTorch-heavy files of a target in unity groups" ON)

# chord_unity_group(TARGET GROUP FILE...): FILE... (relative to the current source folder) of
# TARGET compile as one unity file named after GROUP.
function(chord_unity_group target group)
  if(NOT CHORD_UNITY_BUILD)
    return()
  endif()
  set_target_properties(${target} PROPERTIES UNITY_BUILD ON UNITY_BUILD_MODE GROUP)
  set_source_files_properties(${ARGN} TARGET_DIRECTORY ${target}
    PROPERTIES UNITY_GROUP ${group})
endfunction()

# chord_use_pch(TARGET SET): TARGET compiles with the precompiled headers of SET (grpc).
function(chord_use_pch target set)
  if(NOT CHORD_PRECOMPILED_HEADERS OR NOT set)
    return()
  endif()
  if(NOT set STREQUAL "grpc")
    message(FATAL_ERROR "${target}: PCH must be grpc, got \"${set}\"")
  endif()
  get_target_property(_type ${target} TYPE)
  if(_type STREQUAL "EXECUTABLE")
    target_precompile_headers(${target} REUSE_FROM chord_pch_${set}_exe)
  else()
    target_precompile_headers(${target} REUSE_FROM chord_pch_${set}_lib)
  endif()
endfunction()

# chord_add_library(NAME SRCS ... [DEPS ...] [PRIVATE_DEPS ...] [PCH grpc])
# A static library `NAME` with alias chord::NAME (minus the chord_ prefix), rooted at the source
# tree so headers are included as "common/status/status_macros.h". DEPS are PUBLIC (a public
# header needs them), PRIVATE_DEPS only the library's own files.
function(chord_add_library name)
  cmake_parse_arguments(ARG "" "PCH" "SRCS;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SRCS})
  string(REGEX REPLACE "^chord_" "" _short ${name})
  add_library(chord::${_short} ALIAS ${name})
  target_include_directories(${name} PUBLIC
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}>
    $<BUILD_INTERFACE:${PROJECT_BINARY_DIR}/gen>)
  target_compile_options(${name} PRIVATE ${CHORD_WARNING_FLAGS})
  target_link_libraries(${name} PUBLIC ${ARG_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
  chord_use_pch(${name} "${ARG_PCH}")
endfunction()

# chord_add_binary(NAME SRCS ... DEPS ... [PCH grpc]): an executable in build/bin.
function(chord_add_binary name)
  cmake_parse_arguments(ARG "" "PCH" "SRCS;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SRCS})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR}/gen)
  target_compile_options(${name} PRIVATE ${CHORD_WARNING_FLAGS})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} ${CHORD_EXECUTABLE_EXTRA_LIBS})
  chord_use_pch(${name} "${ARG_PCH}")
endfunction()

# chord_add_test(NAME SRCS ... DEPS ... [LABELS ...] [TIMEOUT s] [RESOURCE_LOCK name]
#                [PCH grpc])
# A GoogleTest binary registered with ctest as one test (gtest runs its cases). Tests run with
# OMP_WAIT_POLICY=PASSIVE: ctest runs tests side by side on few cores, where spinning OpenMP
# threads slow LibTorch down 1.7-7.6x (measured, docs/operations.md).
# Label `gpu` for tests that need a GPU (skipped unless CHORD_WITH_CUDA), `slow` for long ones.
function(chord_add_test name)
  if(NOT CHORD_BUILD_TESTS)
    return()
  endif()
  cmake_parse_arguments(ARG "" "TIMEOUT;RESOURCE_LOCK;PCH" "SRCS;DEPS;LABELS;ENV" ${ARGN})
  add_executable(${name} ${ARG_SRCS})
  chord_use_pch(${name} "${ARG_PCH}")
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/tests)
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR}/gen)
  target_compile_options(${name} PRIVATE ${CHORD_WARNING_FLAGS})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gmock GTest::gtest_main
    ${CHORD_EXECUTABLE_EXTRA_LIBS})
  add_test(NAME ${name} COMMAND ${name} --gtest_color=no)
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  set_tests_properties(${name} PROPERTIES TIMEOUT ${ARG_TIMEOUT}
    ENVIRONMENT "CHORD_BIN_DIR=${PROJECT_BINARY_DIR}/bin;CHORD_SOURCE_DIR=${PROJECT_SOURCE_DIR};OMP_WAIT_POLICY=PASSIVE;${ARG_ENV}")
  if(ARG_LABELS)
    set_tests_properties(${name} PROPERTIES LABELS "${ARG_LABELS}")
  endif()
  if(ARG_RESOURCE_LOCK)
    set_tests_properties(${name} PROPERTIES RESOURCE_LOCK ${ARG_RESOURCE_LOCK})
  endif()
  chord_sanitizer_configure_test(${name})
  if("gpu" IN_LIST ARG_LABELS AND NOT CHORD_WITH_CUDA)
    # Without a CUDA build the test cannot run: ctest reports it as skipped, not passed.
    set_tests_properties(${name} PROPERTIES DISABLED TRUE)
  endif()
endfunction()
