// The one source of the precompiled-header anchor libraries (cmake/ChordTargets.cmake): it only
// makes CMake build the precompiled headers that other targets reuse.
