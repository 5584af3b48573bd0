# ctest driver (cmake -P): installs Chord's `sdk` component from CHORD_BUILD_DIR into a fresh
# prefix, configures and builds this folder's project against it with the same generator,
# compiler and build type, runs the program and checks its output.
#
# Inputs (-D): CHORD_BUILD_DIR, CONSUMER_SOURCE_DIR, WORK_DIR, GENERATOR, CXX_COMPILER,
# BUILD_TYPE; optional COMPILER_LAUNCHER (ccache), Torch_DIR, absl_DIR (the packages the main
# build used, so a LibTorch 2.x from CMAKE_PREFIX_PATH is found again).

foreach(var CHORD_BUILD_DIR CONSUMER_SOURCE_DIR WORK_DIR GENERATOR CXX_COMPILER)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "run_consumer_test.cmake: -D${var}=... is required")
  endif()
endforeach()

function(run_step name)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${name} failed (${rc}):\n${out}\n${err}")
  endif()
  set(STEP_OUTPUT "${out}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE "${WORK_DIR}")
set(prefix "${WORK_DIR}/prefix")

run_step("install" "${CMAKE_COMMAND}" --install "${CHORD_BUILD_DIR}" --component sdk
  --prefix "${prefix}")

set(configure_args -S "${CONSUMER_SOURCE_DIR}" -B "${WORK_DIR}/build" -G "${GENERATOR}"
  "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}" "-DCMAKE_PREFIX_PATH=${prefix}")
if(BUILD_TYPE)
  list(APPEND configure_args "-DCMAKE_BUILD_TYPE=${BUILD_TYPE}")
endif()
if(COMPILER_LAUNCHER)
  list(APPEND configure_args "-DCMAKE_CXX_COMPILER_LAUNCHER=${COMPILER_LAUNCHER}")
endif()
foreach(package_dir Torch_DIR absl_DIR)
  if(${package_dir})
    list(APPEND configure_args "-D${package_dir}=${${package_dir}}")
  endif()
endforeach()
run_step("configure" "${CMAKE_COMMAND}" ${configure_args})
run_step("build" "${CMAKE_COMMAND}" --build "${WORK_DIR}/build")
run_step("run" "${WORK_DIR}/build/chord_consumer")
if(NOT STEP_OUTPUT MATCHES "chord-consumer: ok")
  message(FATAL_ERROR "unexpected output: ${STEP_OUTPUT}")
endif()
message(STATUS "${STEP_OUTPUT}")
