// SPDX-License-Identifier: GPL-2.0
/*
 * Disassembler fixture, default CPU (v1): 64-bit ALU with register and immediate operands,
 * unsigned division and modulo, shifts, byte swaps, every load/store size, 64-bit atomics,
 * bpf-to-bpf calls, helper calls, map references and the v1 jump set (no jlt/jle).
 * The C is arranged only to make clang emit many instruction forms; it is never run.
 */
#include <linux/bpf.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

typedef unsigned long long u64;
typedef long long s64;
typedef unsigned int u32;
typedef int s32;
typedef unsigned short u16;
typedef unsigned char u8;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, u32);
	__type(value, u64);
} counters SEC(".maps");

u64 global_total = 0;
const volatile u64 tuning = 7;

struct block {
	u64 a, b, c, d;
	u32 w0, w1;
	u16 h0, h1;
	u8 b0, b1, b2, b3;
	s64 s;
};

static __attribute__((noinline)) u64 mix(u64 x, u64 y)
{
	x ^= y << 13;
	x += y >> 7;
	x |= (u64)((s64)y >> 3);
	x &= ~(y >> 1);
	x -= y * 0x9e3779b9ULL;
	return x;
}

static __attribute__((noinline)) u64 divs(u64 x, u64 y, u32 z)
{
	if (y == 0 || z == 0)
		return 0;
	return x / y + x % y + x / 1000 + x % 17 + (u64)((u32)x / z) + (u64)((u32)x % z);
}

static __attribute__((noinline)) int cmps(s64 a, s64 b, u64 c, u64 d)
{
	int r = 0;

	if (a > b)
		r += 1;
	if (a >= 5)
		r += 2;
	if (a < -3)
		r += 4;
	if (b <= a)
		r += 8;
	if (c > d)
		r += 16;
	if (c >= 100)
		r += 32;
	if (c < d)
		r += 64;
	if (d <= 1000000)
		r += 128;
	if (c == 0x7fffffff)
		r += 256;
	if (c != d)
		r += 512;
	if (c & 0x40)
		r += 1024;
	return r;
}

SEC("xdp")
int insn_v1(struct xdp_md *ctx)
{
	struct block *blk = (struct block *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	u32 key = 1;
	u64 *cnt;
	u64 v, w;

	if ((void *)(blk + 1) > end)
		return XDP_PASS;

	v = blk->a;
	w = blk->b;
	v += mix(v, w);
	v += divs(v, w, blk->w0);
	v += cmps((s64)blk->s, (s64)blk->c, blk->c, blk->d);
	v += bpf_ntohs(blk->h0) + bpf_ntohl(blk->w1) + __builtin_bswap64(blk->d);
	v += blk->b0 + blk->b1 + blk->h1;
	v += (u64)-(s64)w;
	v += 0x123456789abcdefULL;
	v += tuning;

	blk->c = v;
	blk->w0 = (u32)v;
	blk->h0 = (u16)v;
	blk->b3 = (u8)v;
	blk->b2 = 0x5a;
	blk->h1 = 0x1234;
	blk->w1 = 0xdeadbeef;
	blk->d = (u64)-1;

	cnt = bpf_map_lookup_elem(&counters, &key);
	if (cnt) {
		__sync_fetch_and_add(cnt, v);
		__sync_fetch_and_add(&global_total, 1);
	}
	return v > 100 ? XDP_DROP : XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
