// SPDX-License-Identifier: GPL-2.0
/*
 * Tail calls between tc programs, the scenarios the kernel's tail-call selftests exercise, in
 * programs of our own (test/kernel/tc-tailcalls-both.test.ts runs them on both engines):
 * - entry: jumps to slot `selector` of `jmp` (a global chooses the slot); slots filled and
 *   emptied while loaded change what it returns; an empty or out-of-range slot falls through;
 * - chain: each stage counts and jumps to the next slot of `chain`, so deleting one stops it;
 * - self_loop: jumps to itself through `loop[0]`, counting: the 33-call limit stops it;
 * - via_subprog: a bpf-to-bpf call whose callee tail-calls (with a stack of its own);
 * - hier_entry: two calls of a subprogram that each tail-call back into hier_entry, so the
 *   limit is shared down a hierarchy of calls.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

char _license[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} jmp SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} chain SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} loop SEC(".maps");

int selector;
int count;
int sub_count;
int stages[4];

SEC("tc")
int slot0(struct __sk_buff *skb)
{
	return 10;
}

SEC("tc")
int slot1(struct __sk_buff *skb)
{
	return 11;
}

SEC("tc")
int slot2(struct __sk_buff *skb)
{
	return 12 + skb->len;
}

SEC("tc")
int entry(struct __sk_buff *skb)
{
	bpf_tail_call(skb, &jmp, selector);
	return 99;
}

static __always_inline int stage(struct __sk_buff *skb, int i)
{
	stages[i & 3]++;
	bpf_tail_call(skb, &chain, i + 1);
	return 20 + i;
}

SEC("tc")
int chain0(struct __sk_buff *skb)
{
	return stage(skb, 0);
}

SEC("tc")
int chain1(struct __sk_buff *skb)
{
	return stage(skb, 1);
}

SEC("tc")
int chain2(struct __sk_buff *skb)
{
	return stage(skb, 2);
}

SEC("tc")
int chain3(struct __sk_buff *skb)
{
	stages[3]++;
	return 23;
}

SEC("tc")
int self_loop(struct __sk_buff *skb)
{
	count++;
	bpf_tail_call(skb, &loop, 0);
	return 1;
}

static __noinline int sub_tail(struct __sk_buff *skb, int key)
{
	volatile char buf[64];

	buf[key & 63] = (char)key;
	sub_count++;
	bpf_tail_call(skb, &jmp, key);
	return buf[key & 63] + 100;
}

SEC("tc")
int via_subprog(struct __sk_buff *skb)
{
	int r = sub_tail(skb, selector);

	return r + 1000;
}

static __noinline int hier_sub(struct __sk_buff *skb)
{
	count++;
	bpf_tail_call(skb, &loop, 0);
	return 0;
}

SEC("tc")
int hier_entry(struct __sk_buff *skb)
{
	int r = hier_sub(skb);

	r += hier_sub(skb);
	return r + sub_count;
}
