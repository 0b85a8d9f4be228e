// SPDX-License-Identifier: GPL-2.0
/*
 * `tsbpf check`: one error, prog-type-mismatch. The XDP program entry owns jmp, but slot 0 holds
 * a tc (sched_cls) program, which the kernel refuses to put there.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

int classifier(struct __sk_buff *skb);

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__uint(key_size, sizeof(__u32));
	__array(values, int(void *));
} jmp SEC(".maps") = {
	.values = { [0] = (void *)&classifier },
};

SEC("xdp")
int entry(struct xdp_md *ctx)
{
	bpf_tail_call(ctx, &jmp, 0); /* check: prog-type-mismatch classifier */
	return XDP_PASS;
}

SEC("tc")
int classifier(struct __sk_buff *skb)
{
	return TC_ACT_OK;
}
