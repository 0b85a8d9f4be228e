// SPDX-License-Identifier: GPL-2.0
/*
 * The tail-call dispatcher of examples/tail-call, with its stages reporting through a ring
 * buffer instead of bpf_printk: each port's program sends one `struct port_event` per packet
 * (addresses, ports, length, the stage's port) that a TypeScript loader reads and prints
 * (loader.ts here, or `tsbpf attach port-events.yaml`). Slot 0 handles port 8080, slot 1 port 22;
 * anything else falls through to XDP_PASS without an event.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

struct port_event {
	__u32 saddr; /* network byte order, as on the wire */
	__u32 daddr;
	__u16 sport; /* host byte order */
	__u16 dport;
	__u16 stage; /* the port of the stage that handled it */
	__u16 len;   /* bytes of the frame */
};

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 2);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} prog_array SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} events SEC(".maps");

/* Events the ring buffer had no room for (the reader fell behind). */
__u64 dropped = 0;
/* Keeps struct port_event in BTF, so readers can decode records by its name. */
struct port_event *unused_port_event __attribute__((unused));

static __always_inline struct tcphdr *tcp_of(struct xdp_md *ctx, struct iphdr **ipp)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return 0;
	struct iphdr *ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end || ip->protocol != IPPROTO_TCP)
		return 0;
	struct tcphdr *tcp = (void *)ip + ip->ihl * 4;
	if ((void *)(tcp + 1) > data_end)
		return 0;
	*ipp = ip;
	return tcp;
}

SEC("xdp")
int main_prog(struct xdp_md *ctx)
{
	struct iphdr *ip;
	struct tcphdr *tcp = tcp_of(ctx, &ip);

	if (!tcp)
		return XDP_PASS;
	switch (bpf_ntohs(tcp->dest)) {
	case 8080:
		bpf_tail_call(ctx, &prog_array, 0);
		break;
	case 22:
		bpf_tail_call(ctx, &prog_array, 1);
		break;
	}
	return XDP_PASS;
}

static __always_inline int report(struct xdp_md *ctx, __u16 stage)
{
	struct iphdr *ip;
	struct tcphdr *tcp = tcp_of(ctx, &ip);

	if (!tcp)
		return XDP_PASS;
	struct port_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&dropped, 1);
		return XDP_PASS;
	}
	e->saddr = ip->saddr;
	e->daddr = ip->daddr;
	e->sport = bpf_ntohs(tcp->source);
	e->dport = bpf_ntohs(tcp->dest);
	e->stage = stage;
	e->len = (__u16)(ctx->data_end - ctx->data);
	bpf_ringbuf_submit(e, 0);
	return XDP_PASS;
}

SEC("xdp")
int port8080_prog(struct xdp_md *ctx)
{
	return report(ctx, 8080);
}

SEC("xdp")
int port22_prog(struct xdp_md *ctx)
{
	return report(ctx, 22);
}
