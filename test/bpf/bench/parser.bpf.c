// SPDX-License-Identifier: GPL-2.0
/*
 * A realistic multi-stage packet parser for the benchmark (bench table 2, issue 14): the entry
 * parses Ethernet, up to two VLAN tags (802.1Q / 802.1ad), IPv4 (with options) or IPv6, records
 * what it found in a per-CPU scratch value, counts the packet per L3 protocol in a per-CPU array
 * and tail-calls a stage by L4 protocol (slot 0 TCP, slot 1 UDP). Each stage reads the scratch
 * value, parses its header, counts per destination-port bucket and gives a verdict (TCP to
 * port 23 is dropped). Anything else passes.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define STAGE_TCP 0
#define STAGE_UDP 1

struct vlan_hdr {
	__be16 tci;
	__be16 proto;
};

/* What the entry found, for the stage it tail-calls. */
struct scratch {
	__u32 l4_off;
	__u32 l3_proto;
	__u32 vlans;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 2);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} stages SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch SEC(".maps");

/* Packets per L3 protocol: 0 IPv4, 1 IPv6, 2 other. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 3);
	__type(key, __u32);
	__type(value, __u64);
} l3_count SEC(".maps");

/* Packets and bytes per destination-port bucket (port % 64), TCP then UDP. */
struct counter {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 128);
	__type(key, __u32);
	__type(value, struct counter);
} port_count SEC(".maps");

char LICENSE[] SEC("license") = "GPL";

static __always_inline void bump(void *map, __u32 key)
{
	__u64 *n = bpf_map_lookup_elem(map, &key);

	if (n)
		*n += 1;
}

SEC("xdp")
int parse(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	struct ethhdr *eth = data;
	__u32 off = sizeof(*eth);
	__u32 vlans = 0;
	__u16 proto;
	__u8 l4;

	if ((void *)(eth + 1) > data_end)
		return XDP_DROP;
	proto = eth->h_proto;
#pragma unroll
	for (int i = 0; i < 2; i++) {
		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		struct vlan_hdr *vh = data + off;
		if ((void *)(vh + 1) > data_end)
			return XDP_DROP;
		proto = vh->proto;
		off += sizeof(*vh);
		vlans++;
	}
	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = data + off;
		if ((void *)(ip + 1) > data_end)
			return XDP_DROP;
		if (ip->ihl < 5)
			return XDP_DROP;
		off += ip->ihl * 4;
		l4 = ip->protocol;
		bump(&l3_count, 0);
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = data + off;
		if ((void *)(ip6 + 1) > data_end)
			return XDP_DROP;
		off += sizeof(*ip6);
		l4 = ip6->nexthdr;
		bump(&l3_count, 1);
	} else {
		bump(&l3_count, 2);
		return XDP_PASS;
	}

	__u32 zero = 0;
	struct scratch *s = bpf_map_lookup_elem(&scratch, &zero);
	if (!s)
		return XDP_ABORTED;
	s->l4_off = off;
	s->l3_proto = bpf_ntohs(proto);
	s->vlans = vlans;
	if (l4 == IPPROTO_TCP)
		bpf_tail_call(ctx, &stages, STAGE_TCP);
	else if (l4 == IPPROTO_UDP)
		bpf_tail_call(ctx, &stages, STAGE_UDP);
	return XDP_PASS;
}

static __always_inline struct scratch *scratch_value(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&scratch, &zero);
}

static __always_inline void count_port(__u32 bucket, __u64 len)
{
	struct counter *c = bpf_map_lookup_elem(&port_count, &bucket);

	if (c) {
		c->packets += 1;
		c->bytes += len;
	}
}

SEC("xdp")
int tcp_stage(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	struct scratch *s = scratch_value();

	if (!s)
		return XDP_ABORTED;
	__u32 off = s->l4_off;
	if (off > 256)
		return XDP_DROP;
	struct tcphdr *tcp = data + off;
	if ((void *)(tcp + 1) > data_end)
		return XDP_DROP;
	__u16 dport = bpf_ntohs(tcp->dest);
	count_port(dport % 64, data_end - data);
	if (dport == 23)
		return XDP_DROP;
	return XDP_PASS;
}

SEC("xdp")
int udp_stage(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	struct scratch *s = scratch_value();

	if (!s)
		return XDP_ABORTED;
	__u32 off = s->l4_off;
	if (off > 256)
		return XDP_DROP;
	struct udphdr *udp = data + off;
	if ((void *)(udp + 1) > data_end)
		return XDP_DROP;
	count_port(64 + bpf_ntohs(udp->dest) % 64, data_end - data);
	return XDP_PASS;
}
