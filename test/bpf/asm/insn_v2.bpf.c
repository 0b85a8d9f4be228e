// SPDX-License-Identifier: GPL-2.0
// tsbpf-cflags: -mcpu=v2
/* The v1 disassembler fixture again, built for v2 so that clang also emits jlt/jle/jslt/jsle. */
#include "insn_v1.bpf.c"
