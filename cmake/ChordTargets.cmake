# Helpers that give every Chord target the same shape: warnings, include root, test registration.

set(CHORD_WARNING_FLAGS -Wall -Wextra)
# Linked into every executable (chord_add_binary, chord_add_test); the sanitizer builds add their
# runtime support here (cmake/ChordSanitizers.cmake).
set(CHORD_EXECUTABLE_EXTRA_LIBS)

# chord_add_library(NAME SRCS ... [DEPS ...] [PRIVATE_DEPS ...])
# A static library `NAME` with alias chord::NAME (minus the chord_ prefix), rooted at the source
# tree so headers are included as "common/status/status_macros.h".
function(chord_add_library name)
  cmake_parse_arguments(ARG "" "" "SRCS;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SRCS})
  string(REGEX REPLACE "^chord_" "" _short ${name})
  add_library(chord::${_short} ALIAS ${name})
  target_include_directories(${name} PUBLIC
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}>
    $<BUILD_INTERFACE:${PROJECT_BINARY_DIR}/gen>)
  target_compile_options(${name} PRIVATE ${CHORD_WARNING_FLAGS})
  target_link_libraries(${name} PUBLIC ${ARG_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
endfunction()

# chord_add_binary(NAME SRCS ... DEPS ...): an executable in build/bin.
function(chord_add_binary name)
  cmake_parse_arguments(ARG "" "" "SRCS;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SRCS})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR}/gen)
  target_compile_options(${name} PRIVATE ${CHORD_WARNING_FLAGS})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} ${CHORD_EXECUTABLE_EXTRA_LIBS})
endfunction()

# chord_add_test(NAME SRCS ... DEPS ... [LABELS ...] [TIMEOUT s] [RESOURCE_LOCK name])
# A GoogleTest binary registered with ctest as one test (gtest runs its cases). Tests run with
# OMP_WAIT_POLICY=PASSIVE: ctest runs tests side by side on few cores, where spinning OpenMP
# threads slow LibTorch down 1.7-7.6x (measured, docs/operations.md).
# Label `gpu` for tests that need a GPU (skipped unless CHORD_WITH_CUDA), `slow` for long ones.
function(chord_add_test name)
  if(NOT CHORD_BUILD_TESTS)
    return()
  endif()
  cmake_parse_arguments(ARG "" "TIMEOUT;RESOURCE_LOCK" "SRCS;DEPS;LABELS;ENV" ${ARGN})
  add_executable(${name} ${ARG_SRCS})
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
