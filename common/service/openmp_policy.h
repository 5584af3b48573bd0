#pragma once

// OpenMP wait policy for the binaries that run LibTorch (chord-learner, chord-rollout-worker,
// chordctl).
//
// libgomp's worker threads spin while they wait for work unless OMP_WAIT_POLICY=PASSIVE. When the
// cores are shared (Chord's services side by side, other pods, a CPU quota) a spinning thread
// holds a core another thread needs. Measured on 2 cores with one other busy process: a tiny-model
// learner step takes 0.56-0.70 s with the policy unset and 0.31-0.33 s with PASSIVE; generation
// at batch 32 runs at 1.4k instead of 10.5k tokens/s. On an idle machine PASSIVE costs 13-16%
// (0.183-0.185 s vs 0.209-0.212 s per step). docs/operations.md has the commands.
//
// libgomp reads the variable once, when it is loaded, before main(); so a process can only change
// its policy by starting again.

namespace chord::service {

// Call first thing in main(). When OMP_WAIT_POLICY is unset, sets it to PASSIVE and re-executes
// this binary (/proc/self/exe) with the same arguments; returns without doing anything when the
// variable is set (to any value: the user's choice wins) and when re-executing fails (the process
// then simply runs with libgomp's default).
void PreferPassiveOpenMp(int argc, char** argv);

// True when this process was started again by PreferPassiveOpenMp (for a log line).
bool OpenMpPolicyWasSetByChord();

}  // namespace chord::service
