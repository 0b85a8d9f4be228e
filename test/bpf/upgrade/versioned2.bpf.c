// versioned.bpf.c whose programs default to version 2: swapped into a version 1 pipeline, its
// stage must be seen running a mixed chain (the proof's detector, shown to detect).
// tsbpf-tail: stages:0=stage_a
// tsbpf-tail: stages:1=stage_b
#define VERSIONED_DEFAULT 2
#include "versioned.bpf.c"
