// SPDX-License-Identifier: GPL-2.0
// tsbpf-cflags: -target bpfeb
/* typed.bpf.c built big-endian, so the codec is checked against clang's big-endian layout too. */
#include "typed.bpf.c"
