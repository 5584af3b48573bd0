// The one source of the precompiled-header anchor executables (cmake/ChordTargets.cmake): it only
// makes CMake build the precompiled headers that other executables reuse.
int main() { return 0; }
