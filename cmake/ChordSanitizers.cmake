# Sanitizer and fuzzing builds, and clang's thread-safety analysis (docs/testing.md).
#
#   CHORD_SANITIZE=address   AddressSanitizer + UndefinedBehaviorSanitizer (`make test-asan`)
#   CHORD_SANITIZE=thread    ThreadSanitizer (`make test-tsan`)
#   CHORD_BUILD_FUZZERS=ON   the libFuzzer targets of tests/fuzz (`make fuzz`); implies address
#
# All three need clang (Debian's clang 14). Each goes into its own build folder (build-asan,
# build-tsan, build-fuzz): the whole project is compiled with the sanitizer, and the libraries we
# do not build (LibTorch, OpenMP, gRPC, Abseil, protobuf, ...) are not instrumented.
#
# Not every test runs under a sanitizer: chord_sanitizer_select_tests() (called once every test
# is defined) labels the tests of the lists below `asan` / `tsan`, builds them with the
# `asan_tests` / `tsan_tests` targets, and gives them the sanitizer options. Why each list holds
# what it holds is said next to it.

set(CHORD_SANITIZE "" CACHE STRING
    "Build with a sanitizer: address (ASan + UBSan) or thread (TSan); empty for none")
set_property(CACHE CHORD_SANITIZE PROPERTY STRINGS "" address thread)
option(CHORD_BUILD_FUZZERS "Build the libFuzzer targets of tests/fuzz (clang; implies ASan + UBSan)"
       OFF)

set(_chord_is_clang FALSE)
if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  set(_chord_is_clang TRUE)
endif()

if(CHORD_BUILD_FUZZERS)
  if(CHORD_SANITIZE STREQUAL "")
    set(CHORD_SANITIZE address CACHE STRING "" FORCE)
  elseif(NOT CHORD_SANITIZE STREQUAL "address")
    message(FATAL_ERROR "chord: CHORD_BUILD_FUZZERS needs CHORD_SANITIZE=address (or empty)")
  endif()
endif()
if(NOT CHORD_SANITIZE STREQUAL "" AND NOT _chord_is_clang)
  message(FATAL_ERROR "chord: CHORD_SANITIZE and CHORD_BUILD_FUZZERS need clang "
                      "(configure with -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang)")
endif()

# Clang checks the ABSL_GUARDED_BY / ABSL_EXCLUSIVE_LOCKS_REQUIRED annotations of our code at
# compile time; a violation fails the build. Only our targets get CHORD_WARNING_FLAGS.
if(_chord_is_clang)
  list(APPEND CHORD_WARNING_FLAGS -Wthread-safety -Werror=thread-safety)
endif()

set(CHORD_SANITIZER_SOURCE_DIR ${CMAKE_CURRENT_LIST_DIR}/../tests/sanitizers)
get_filename_component(CHORD_SANITIZER_SOURCE_DIR ${CHORD_SANITIZER_SOURCE_DIR} ABSOLUTE)

if(CHORD_SANITIZE STREQUAL "address")
  # -O1 and line tables only: about half the compile time of -O2 -g, and stack traces still name
  # file and line. Errors abort (no recovery), so a test fails on the first report.
  set(_chord_san_flags -fsanitize=address,undefined -fno-sanitize-recover=all
      -fno-omit-frame-pointer)
  if(CHORD_BUILD_FUZZERS)
    # Coverage instrumentation for libFuzzer everywhere; only the fuzz targets link libFuzzer.
    list(APPEND _chord_san_flags -fsanitize=fuzzer-no-link)
  endif()
  set(_chord_san_compile_options ${_chord_san_flags} -O1 -gline-tables-only)
  set(_chord_san_link_options -fsanitize=address,undefined)
  add_compile_options(${_chord_san_compile_options})
  add_link_options(${_chord_san_link_options})
  message(STATUS "chord: AddressSanitizer + UndefinedBehaviorSanitizer build "
                 "(fuzzers: ${CHORD_BUILD_FUZZERS})")
elseif(CHORD_SANITIZE STREQUAL "thread")
  set(_chord_san_compile_options -fsanitize=thread -O1 -gline-tables-only -fno-omit-frame-pointer)
  set(_chord_san_link_options -fsanitize=thread)
  add_compile_options(${_chord_san_compile_options})
  add_link_options(${_chord_san_link_options})
  # Tells TSan about the locks of the uninstrumented system Abseil (see the file); every
  # executable links it.
  add_library(chord_tsan_absl_annotations OBJECT
    ${CHORD_SANITIZER_SOURCE_DIR}/tsan_absl_annotations.cc)
  target_include_directories(chord_tsan_absl_annotations PRIVATE ${PROJECT_SOURCE_DIR})
  target_link_libraries(chord_tsan_absl_annotations PUBLIC absl::synchronization absl::time
    ${CMAKE_DL_LIBS})
  list(APPEND CHORD_EXECUTABLE_EXTRA_LIBS chord_tsan_absl_annotations)
  message(STATUS "chord: ThreadSanitizer build")
elseif(NOT CHORD_SANITIZE STREQUAL "")
  message(FATAL_ERROR "chord: CHORD_SANITIZE must be address, thread or empty (got "
                      "\"${CHORD_SANITIZE}\")")
endif()
# The precompiled headers' anchors (cmake/ChordTargets.cmake) exist before the options above were
# added; clang refuses a precompiled header built without the sanitizer flags of the file that
# uses it, so they get them too (and the executable anchor the runtime it then needs).
if(_chord_san_compile_options)
  foreach(_anchor chord_pch_grpc_lib chord_pch_grpc_exe)
    if(TARGET ${_anchor})
      target_compile_options(${_anchor} PRIVATE ${_chord_san_compile_options})
      target_link_options(${_anchor} PRIVATE ${_chord_san_link_options})
    endif()
  endforeach()
endif()

# Tests run under ASan + UBSan (`make test-asan`): every C++ test of the project but
#  - learner_rank_gpu_test (needs CUDA);
#  - deploy_test, docker_image_test, helm_chart_test: they check chart, image and rule files
#    with helm, ldd and promtool; no code of ours runs in them beyond the test itself;
#  - observability_test and experiments_smoke_test: a job of the real services under a real
#    Prometheus, and the experiment harness's smoke run; they run the same code as e2e_test,
#    which is here, for several minutes more;
#  - process_stats_test: it exists only with the benchmarks, which sanitizer builds leave out.
# LibTorch runs uninstrumented at full speed, so the tests that build, train or generate with
# the tiny model fit as well; ASan sees our code and every allocation (malloc is intercepted in
# every library).
set(CHORD_ASAN_TESTS
  status_macros_test checksum_test flag_config_test yaml_reader_test file_io_test
  confined_path_test process_test logging_test metrics_test rpc_test security_test
  server_quota_test openmp_policy_test dataset_test tokenizer_test chat_template_test
  model_test safetensors_test generation_test tiny_preset_test blas_backend_test dist_test
  chord_algorithm_test weights_test weights_model_folder_test
  expert_buffer_client_test expert_buffer_sampler_test expert_buffer_core_test
  expert_buffer_grpc_service_test reward_verifiers_test reward_service_test
  rollout_worker_client_test rollout_worker_test rollout_service_test
  learner_client_test job_store_test job_spec_test driver_test checkpoint_test
  learner_rank_test job_manager_test rank_coordinator_test batch_builder_test
  chordctl_test chordctl_commands_test trinity_config_test synthetic_datasets_test
  long_form_addition_test experiment_report_test
  expert_buffer_integration_test reward_integration_test rollout_worker_integration_test
  chordctl_jobs_test security_integration_test e2e_test fuzz_corpus_test)
# The part CI runs (.ci/run): the tests that need no LibTorch, neither in their own sources nor
# in the libraries they link. CI's ASan build compiles no LibTorch-heavy file (the model, the
# training code, the learner's core and the rollout worker would add most of its compile time);
# the fuzz targets over that code run in CI through fuzz_corpus_test in the gcc build.
set(CHORD_ASAN_CI_TESTS
  status_macros_test checksum_test flag_config_test yaml_reader_test file_io_test
  confined_path_test process_test logging_test metrics_test rpc_test security_test
  server_quota_test openmp_policy_test dataset_test tokenizer_test chat_template_test
  expert_buffer_client_test expert_buffer_sampler_test expert_buffer_core_test
  expert_buffer_grpc_service_test reward_verifiers_test reward_service_test
  rollout_worker_client_test learner_client_test expert_buffer_integration_test)
# Tests run under TSan (`make test-tsan`): the concurrent parts of our code. TSan checks only
# instrumented accesses, and LibTorch's OpenMP kernels run on uninstrumented libgomp threads, so
# the tests with LibTorch here run it on one thread (OMP_NUM_THREADS=1 below): what is checked is
# our own threading around it (queues, weight swaps, the job manager and the driver, the rank
# coordinator's heartbeats, the weight publisher and fetcher). Not here: the single-threaded
# parsers and verifiers (ASan and the fuzzers cover them), the model and training tests (their
# threads are LibTorch's), the multi-process tests (each process is single-threaded where it is
# ours).
set(CHORD_TSAN_TESTS
  tsan_annotations_test rpc_test security_test server_quota_test metrics_test logging_test
  process_test dataset_test expert_buffer_sampler_test expert_buffer_core_test
  expert_buffer_grpc_service_test expert_buffer_integration_test
  reward_service_test job_store_test driver_test
  job_manager_test rank_coordinator_test weights_test rollout_worker_test rollout_service_test)
# The part CI runs: the tests that need no LibTorch (its models and the learner's core would add
# most of the compile time under TSan).
set(CHORD_TSAN_CI_TESTS
  tsan_annotations_test rpc_test security_test server_quota_test metrics_test logging_test
  process_test dataset_test expert_buffer_sampler_test expert_buffer_core_test
  expert_buffer_grpc_service_test expert_buffer_integration_test
  reward_service_test)

# Runtime options of the sanitized tests. Reports fail the test: ASan and UBSan abort on the first
# one; TSan prints every report and exits with 66.
#  - TSan's ignore_noninstrumented_modules: accesses by uninstrumented libraries (gRPC, Abseil,
#    protobuf, LibTorch, libstdc++ ...) are not checked: they synchronise through atomics TSan
#    cannot see, so every one of them would be a false report. Our code is checked.
set(CHORD_ASAN_ENV
  "ASAN_OPTIONS=detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1"
  "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1"
  "LSAN_OPTIONS=suppressions=${CHORD_SANITIZER_SOURCE_DIR}/lsan.supp:print_suppressions=0")
set(CHORD_TSAN_ENV "OMP_NUM_THREADS=1"
  "TSAN_OPTIONS=ignore_noninstrumented_modules=1:second_deadlock_stack=1:suppressions=${CHORD_SANITIZER_SOURCE_DIR}/tsan.supp:print_suppressions=0")

# Whether this build is a sanitizer test build, and which: sets `kind`, `all`, `ci`, `env` in the
# caller, or `kind` empty.
macro(_chord_sanitizer_kind)
  set(kind "")
  if(CHORD_BUILD_TESTS AND CHORD_SANITIZE STREQUAL "address")
    set(kind asan)
    set(all ${CHORD_ASAN_TESTS})
    set(ci ${CHORD_ASAN_CI_TESTS})
    set(env ${CHORD_ASAN_ENV})
  elseif(CHORD_BUILD_TESTS AND CHORD_SANITIZE STREQUAL "thread")
    set(kind tsan)
    set(all ${CHORD_TSAN_TESTS})
    set(ci ${CHORD_TSAN_CI_TESTS})
    set(env ${CHORD_TSAN_ENV})
  endif()
endmacro()

# chord_sanitizer_configure_test(NAME): called by chord_add_test in the test's own directory
# (test properties can only be set there). A selected test gets the label `asan` / `tsan` (and
# `asan-ci` / `tsan-ci` when CI runs it) and the sanitizer's runtime options.
function(chord_sanitizer_configure_test test)
  _chord_sanitizer_kind()
  if(kind STREQUAL "" OR NOT test IN_LIST all)
    return()
  endif()
  set(labels ${kind})
  if(test IN_LIST ci)
    list(APPEND labels ${kind}-ci)
  endif()
  set_property(TEST ${test} APPEND PROPERTY LABELS ${labels})
  set_property(TEST ${test} APPEND PROPERTY ENVIRONMENT ${env})
endfunction()

# chord_sanitizer_select_tests(): called at the end of the top-level CMakeLists.txt, once every
# test exists. In a sanitizer build: checks the lists and adds the targets that build the selected
# tests (`asan_tests` and `asan_ci_tests`, or `tsan_tests` and `tsan_ci_tests`).
function(chord_sanitizer_select_tests)
  _chord_sanitizer_kind()
  if(kind STREQUAL "")
    return()
  endif()
  add_custom_target(${kind}_tests)
  add_custom_target(${kind}_ci_tests)
  foreach(test IN LISTS all)
    if(NOT TARGET ${test})
      message(FATAL_ERROR "chord: the ${kind} list names ${test}, which is not a test")
    endif()
    add_dependencies(${kind}_tests ${test})
  endforeach()
  foreach(test IN LISTS ci)
    if(NOT test IN_LIST all)
      message(FATAL_ERROR "chord: ${test} is in the ${kind} CI list but not in the full list")
    endif()
    add_dependencies(${kind}_ci_tests ${test})
  endforeach()
endfunction()
