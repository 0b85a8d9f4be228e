// SPDX-License-Identifier: GPL-2.0
/*
 * The seed's tail-call dispatcher (examples/tail-call) as a tc program: it reads Ethernet, IPv4
 * and TCP headers and jumps, through a two-slot prog array, into one stage per TCP destination
 * port (slot 0: 8080, slot 1: 22). Anything else, or an empty slot, is TC_ACT_OK. Run on both
 * engines and attached with `tsbpf attach --tc ingress` (test/kernel/tc-dispatch.test.ts).
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 2);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} prog_array SEC(".maps");

char LICENSE[] SEC("license") = "GPL";

SEC("tc")
int tc_main(struct __sk_buff *skb)
{
	void *data_end = (void *)(long)skb->data_end;
	void *data = (void *)(long)skb->data;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > data_end)
		return TC_ACT_SHOT;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;

	struct iphdr *ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end)
		return TC_ACT_SHOT;
	if (ip->protocol != IPPROTO_TCP)
		return TC_ACT_OK;

	struct tcphdr *tcp = (void *)ip + ip->ihl * 4;
	if ((void *)(tcp + 1) > data_end)
		return TC_ACT_SHOT;

	switch (bpf_ntohs(tcp->dest)) {
	case 8080:
		bpf_tail_call(skb, &prog_array, 0);
		break;
	case 22:
		bpf_tail_call(skb, &prog_array, 1);
		break;
	}
	return TC_ACT_OK;
}

SEC("tc")
int tc_port8080(struct __sk_buff *skb)
{
	bpf_printk("tc: packet to port 8080 processed");
	return TC_ACT_OK;
}

SEC("tc")
int tc_port22(struct __sk_buff *skb)
{
	bpf_printk("tc: packet to port 22 processed, mark %u", skb->mark);
	return TC_ACT_SHOT;
}
