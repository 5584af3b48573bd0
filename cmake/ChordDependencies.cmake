# Finds every third-party dependency once and exposes it as an imported or interface target.
# All come from Debian 12 packages (tools/install-deps.sh); LibTorch 2.x may come from
# CMAKE_PREFIX_PATH instead (for the CUDA / NCCL build).

find_package(Threads REQUIRED)
find_package(absl CONFIG REQUIRED)
find_package(Protobuf REQUIRED)
find_package(gRPC CONFIG REQUIRED)
find_package(prometheus-cpp CONFIG REQUIRED)
find_package(spdlog CONFIG REQUIRED)
find_package(yaml-cpp CONFIG REQUIRED)
find_package(nlohmann_json CONFIG REQUIRED)
find_package(SQLite3 REQUIRED)
find_package(CLI11 CONFIG REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)
# GiNaC (with CLN): the computer algebra behind chord-reward's symbolic math comparison.
pkg_check_modules(GINAC REQUIRED IMPORTED_TARGET ginac)

# LibTorch. Debian's libtorch-dev 1.13 by default; any LibTorch 2.x via CMAKE_PREFIX_PATH.
find_package(Torch REQUIRED)
add_library(chord_torch INTERFACE)
add_library(chord::torch ALIAS chord_torch)
# SYSTEM: LibTorch's headers are not ours to keep warning-free.
target_include_directories(chord_torch SYSTEM INTERFACE ${TORCH_INCLUDE_DIRS})
target_link_libraries(chord_torch INTERFACE ${TORCH_LIBRARIES})
if(TORCH_CXX_FLAGS)
  separate_arguments(_chord_torch_flags UNIX_COMMAND "${TORCH_CXX_FLAGS}")
  target_compile_options(chord_torch INTERFACE ${_chord_torch_flags})
endif()
if(CHORD_WITH_CUDA)
  target_compile_definitions(chord_torch INTERFACE CHORD_WITH_CUDA=1)
endif()
message(STATUS "chord: LibTorch ${Torch_VERSION} (CUDA build: ${CHORD_WITH_CUDA})")

if(CHORD_BUILD_TESTS)
  find_package(GTest CONFIG REQUIRED)
  # libpng: the tests decode the pictures `chordctl plot` draws.
  find_package(PNG REQUIRED)
endif()
if(CHORD_BUILD_BENCHMARKS)
  find_package(benchmark CONFIG REQUIRED)
endif()

find_program(CHORD_PROTOC protoc REQUIRED)
find_program(CHORD_GRPC_CPP_PLUGIN grpc_cpp_plugin REQUIRED)

# Gloo headers: Debian ships them in libgloo-dev; a LibTorch distribution may or may not include
# them. Without them the CPU (Gloo) data-parallel path is compiled out and says so at run time.
include(CheckIncludeFileCXX)
set(CMAKE_REQUIRED_INCLUDES ${TORCH_INCLUDE_DIRS})
set(CMAKE_REQUIRED_QUIET ON)
check_include_file_cxx(gloo/config.h CHORD_HAVE_GLOO)
unset(CMAKE_REQUIRED_INCLUDES)
message(STATUS "chord: Gloo headers ${CHORD_HAVE_GLOO}")
