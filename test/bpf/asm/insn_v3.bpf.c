// SPDX-License-Identifier: GPL-2.0
// tsbpf-cflags: -mcpu=v3
/*
 * Disassembler fixture for -mcpu=v3: 32-bit ALU on w registers, JMP32 compares (signed and
 * unsigned, register and immediate), 32- and 64-bit atomics with and without fetch, exchange and
 * compare-exchange. The C is arranged only to make clang emit many instruction forms.
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

struct state {
	u64 q[8];
	u32 d[8];
	s32 s[4];
	u16 h[4];
	u8 b[8];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct state);
} state_map SEC(".maps");

static __attribute__((noinline)) u32 alu32(u32 a, u32 b, s32 c)
{
	u32 r = a + b;

	r -= b * 3;
	r ^= a << (b & 31);
	r |= a >> (b & 31);
	r &= ~b;
	r += (u32)(c >> (b & 31));
	r += (u32)(c >> 5);
	r += a << 7;
	r += a >> 9;
	r += b ? a / b : 0;
	r += b ? a % b : 0;
	r += a / 10 + a % 10;
	r += (u32)-(s32)a;
	r += bpf_htons((u16)a) + bpf_htonl(b);
	return r;
}

static __attribute__((noinline)) int cmp32(s32 a, s32 b, u32 c, u32 d)
{
	int r = 0;

	if (a > b)
		r |= 1;
	if (a >= -7)
		r |= 2;
	if (a < b)
		r |= 4;
	if (a <= 100)
		r |= 8;
	if (c > d)
		r |= 16;
	if (c >= 3)
		r |= 32;
	if (c < d)
		r |= 64;
	if (c <= 0x80000000u)
		r |= 128;
	if (c == d)
		r |= 256;
	if (c != 12345)
		r |= 512;
	return r;
}

static __attribute__((noinline)) u64 atomics64(u64 *p, u64 v)
{
	u64 r = 0;

	__sync_fetch_and_add(&p[0], v);
	r += __sync_fetch_and_add(&p[1], v);
	__sync_fetch_and_or(&p[2], v);
	r += __sync_fetch_and_or(&p[2], v);
	__sync_fetch_and_and(&p[3], v);
	r += __sync_fetch_and_and(&p[3], v);
	__sync_fetch_and_xor(&p[4], v);
	r += __sync_fetch_and_xor(&p[4], v);
	r += __sync_lock_test_and_set(&p[5], v);
	r += __sync_val_compare_and_swap(&p[6], v, r);
	r += __sync_fetch_and_sub(&p[7], v);
	return r;
}

static __attribute__((noinline)) u32 atomics32(u32 *p, u32 v)
{
	u32 r = 0;

	__sync_fetch_and_add(&p[0], v);
	r += __sync_fetch_and_add(&p[1], v);
	__sync_fetch_and_or(&p[2], v);
	r += __sync_fetch_and_or(&p[2], v);
	__sync_fetch_and_and(&p[3], v);
	r += __sync_fetch_and_and(&p[3], v);
	__sync_fetch_and_xor(&p[4], v);
	r += __sync_fetch_and_xor(&p[4], v);
	r += __sync_lock_test_and_set(&p[5], v);
	r += __sync_val_compare_and_swap(&p[6], v, r);
	return r;
}

SEC("tc")
int insn_v3(struct __sk_buff *skb)
{
	struct state *st;
	u32 key = 0;
	u64 acc;

	st = bpf_map_lookup_elem(&state_map, &key);
	if (!st)
		return 0;
	acc = alu32(st->d[0], st->d[1], st->s[0]);
	acc += cmp32(st->s[1], st->s[2], st->d[2], st->d[3]);
	acc += atomics64(st->q, acc);
	acc += atomics32(st->d, (u32)acc);
	st->h[0] = (u16)acc;
	st->b[1] = (u8)acc;
	st->d[7] = (u32)(acc >> 32);
	st->s[3] = -1;
	st->b[2] = st->b[3] + st->h[1];
	return (s32)acc < 0 ? 1 : (u32)acc > 77u ? 2 : 0;
}

char LICENSE[] SEC("license") = "GPL";
