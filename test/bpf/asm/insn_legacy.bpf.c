// SPDX-License-Identifier: GPL-2.0
/*
 * Disassembler fixture for forms clang only emits on request: legacy packet loads (ld_abs and
 * ld_ind, through the llvm.bpf.load.* intrinsics, as samples/bpf did) in a socket filter, and a few
 * encodings written as inline assembly (pseudo 64-bit loads with a non-zero src, jump offsets
 * that land inside a function, large immediates).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

unsigned long long load_byte(void *skb, unsigned long long off) asm("llvm.bpf.load.byte");
unsigned long long load_half(void *skb, unsigned long long off) asm("llvm.bpf.load.half");
unsigned long long load_word(void *skb, unsigned long long off) asm("llvm.bpf.load.word");

SEC("socket")
int legacy_loads(struct __sk_buff *skb)
{
	unsigned long long proto = load_half(skb, 12);
	unsigned long long ihl;

	if (proto != 0x0800)
		return 0;
	ihl = (load_byte(skb, 14) & 0xf) << 2;
	if (load_byte(skb, 23) != 6)
		return 0;
	return load_word(skb, 14 + ihl) + load_half(skb, 14 + ihl + 2) + load_byte(skb, ihl + 20);
}

SEC("socket")
int raw_forms(struct __sk_buff *skb)
{
	asm volatile(
		"r0 = *(u8 *)skb[r1]\n"
		"r1 = -1 ll\n"
		"r2 = 0x7fffffffffffffff ll\n"
		"r3 = 0x8000000000000000 ll\n"
		"r4 = 4294967295 ll\n"
		"r5 = -2147483648\n"
		"w5 = -1\n"
		"r6 = 0\n"
		"*(u64 *)(r10 - 512) = r6\n"
		"r7 = *(u64 *)(r10 - 512)\n"
		"*(u16 *)(r10 + 32767) = r7\n"
		"r7 = *(u8 *)(r10 - 32768)\n"
		"r1 = le16 r1\n"
		"r1 = le32 r1\n"
		"r1 = le64 r1\n"
		"w9 = -w9\n"
		"r9 = -r9\n"
		"if r1 s>= r2 goto -3\n"
		"if w1 s<= -2147483648 goto +0\n"
		"goto +0\n"
		".quad 0x0000000700001118\n"
		".quad 0x0000000400000000\n"
		".quad 0xffffffff00002218\n"
		".quad 0x0000000000000000\n"
		".quad 0x0000000300003318\n"
		".quad 0x0000000000000000\n"
		".quad 0x0000000000004418\n"
		".quad 0x0000000000000000\n"
		".quad 0x0000000800005518\n"
		".quad 0x0000000000000000\n"
		".quad 0x0000000800006618\n"
		".quad 0x0000000100000000\n"
		"call 0x7fffffff\n"
		".quad 0x0000001f00002085\n"
		::: "r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r9");
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
