// SPDX-License-Identifier: GPL-2.0
/*
 * libbpf's `?` section prefix: `optional` and `rejected` are in the object but not loaded unless
 * asked for; `rejected` would fail the kernel's verifier (it writes a read-only field), so the
 * object loads only if it is really left out (test/kernel/tc-optional.test.ts).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char _license[] SEC("license") = "GPL";

SEC("tc")
int always(struct __sk_buff *skb)
{
	return 1;
}

SEC("?tc")
int optional(struct __sk_buff *skb)
{
	return 2;
}

SEC("?tc")
int rejected(struct __sk_buff *skb)
{
	volatile struct __sk_buff *w = skb;

	w->len = 1;
	return 3;
}
