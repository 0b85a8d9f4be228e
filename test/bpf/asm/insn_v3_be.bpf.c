// SPDX-License-Identifier: GPL-2.0
// tsbpf-cflags: -target bpfeb -mcpu=v3
/* The v3 disassembler fixture built big-endian: the same instructions with swapped register nibbles. */
#include "insn_v3.bpf.c"
