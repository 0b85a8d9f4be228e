// SPDX-License-Identifier: GPL-2.0
/*
 * Maps and global data with every shape the typed map view decodes: a 5-tuple struct key,
 * struct values with u64 counters, a char name[16], an enum, bitfields, a union, an anonymous
 * struct, a signed field, a per-CPU hash, a map without BTF key/value types, and .data, .bss and
 * .rodata variables the program changes or reads (test/backend/typed-map.test.ts and
 * test/kernel/typed-map-both.test.ts).
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

enum verdict { VERDICT_NONE = 0, VERDICT_PASS = 2, VERDICT_DROP = 1, VERDICT_ODD = 0x7fffff00 };

struct flow_key {
	__u32 saddr;
	__u32 daddr;
	__u16 sport;
	__u16 dport;
	__u8 proto;
	__u8 pad[3];
};

struct flow_stats {
	__u64 packets;
	__u64 bytes;
	char name[16];
	enum verdict last;
	__u32 ttl : 8, is_tcp : 1, syn : 1, : 6, seen : 16;
	__s16 delta;
	__u16 pad16;
	union {
		__u32 word;
		__u8 octets[4];
	} first_bytes;
	struct {
		__u16 min_len;
		__u16 max_len;
	};
};

struct counter {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, struct flow_key);
	__type(value, struct flow_stats);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct counter);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 16);
	__type(key, __u8);
	__type(value, struct counter);
} per_proto SEC(".maps");

/* Sizes only, no BTF types: the typed view passes bytes through. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8);
	__uint(key_size, 4);
	__uint(value_size, 8);
} untyped SEC(".maps");

/* .rodata: set before load, then frozen. */
const volatile __u16 drop_port = 0;
const volatile char banner[8] = "typed";

/* .data */
__u64 total_bytes = 1000;
char last_name[16] = "none";
float ratio = 1.5f;
struct flow_key last_key = { .saddr = 1, .daddr = 2, .sport = 3, .dport = 4, .proto = 5 };
/* Only read by user space: their initialisers pin down clang's layout for the codec tests. */
struct flow_stats init_stats = {
	.packets = 0x1122334455667788ULL,
	.bytes = 7,
	.name = "init",
	.last = VERDICT_ODD,
	.ttl = 64,
	.is_tcp = 1,
	.syn = 0,
	.seen = 0xbeef,
	.delta = -300,
	.first_bytes = { .word = 0x01020304 },
	.min_len = 60,
	.max_len = 1500,
};
_Bool armed = 1;
__s64 big_neg = -5;
__u16 grid[2][3] = { { 1, 2, 3 }, { 4, 5, 0xffff } };

/* .bss */
__u32 runs;
enum verdict last_verdict;
__s32 last_delta;
struct counter *last_ptr;

static __always_inline void set_name(char *dst, __u8 proto)
{
	if (proto == IPPROTO_TCP) {
		dst[0] = 't'; dst[1] = 'c'; dst[2] = 'p'; dst[3] = 0;
	} else {
		dst[0] = 'u'; dst[1] = 'd'; dst[2] = 'p'; dst[3] = 0;
	}
}

SEC("xdp")
int typed_prog(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u32 len = ctx->data_end - ctx->data;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct flow_key key;
	struct flow_stats *st, fresh;
	struct counter *c, one = { 1, len };
	__u32 zero = 0;
	__u16 *ports;
	enum verdict v = VERDICT_PASS;
	__u8 syn = 0;

	runs++;
	total_bytes += len;
	c = bpf_map_lookup_elem(&counters, &zero);
	if (c) {
		__sync_fetch_and_add(&c->packets, 1);
		__sync_fetch_and_add(&c->bytes, len);
	}
	if ((void *)(ip + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	if (ip->protocol != IPPROTO_TCP && ip->protocol != IPPROTO_UDP)
		return XDP_PASS;
	ports = (void *)(ip + 1);
	if ((void *)(ports + 2) > end)
		return XDP_PASS;
	if (ip->protocol == IPPROTO_TCP) {
		struct tcphdr *tcp = (void *)(ip + 1);
		if ((void *)(tcp + 1) > end)
			return XDP_PASS;
		syn = tcp->syn;
	}

	__builtin_memset(&key, 0, sizeof(key));
	key.saddr = bpf_ntohl(ip->saddr);
	key.daddr = bpf_ntohl(ip->daddr);
	key.sport = bpf_ntohs(ports[0]);
	key.dport = bpf_ntohs(ports[1]);
	key.proto = ip->protocol;
	if (key.dport == drop_port)
		v = VERDICT_DROP;

	st = bpf_map_lookup_elem(&flows, &key);
	if (!st) {
		__builtin_memset(&fresh, 0, sizeof(fresh));
		set_name(fresh.name, key.proto);
		fresh.min_len = len;
		fresh.max_len = len;
		fresh.first_bytes.word = *(__u32 *)data;
		fresh.delta = -(__s16)len;
		bpf_map_update_elem(&flows, &key, &fresh, BPF_NOEXIST);
		st = bpf_map_lookup_elem(&flows, &key);
		if (!st)
			return XDP_ABORTED;
	}
	st->packets++;
	st->bytes += len;
	st->last = v;
	st->ttl = ip->ttl;
	st->is_tcp = key.proto == IPPROTO_TCP;
	st->syn = syn;
	st->seen += 3;
	if (len < st->min_len)
		st->min_len = len;
	if (len > st->max_len)
		st->max_len = len;

	c = bpf_map_lookup_elem(&per_proto, &key.proto);
	if (c) {
		c->packets++;
		c->bytes += len;
	} else {
		bpf_map_update_elem(&per_proto, &key.proto, &one, BPF_ANY);
	}

	set_name(last_name, key.proto);
	last_key = key;
	last_verdict = v;
	last_delta = st->delta;
	if (v == VERDICT_DROP)
		return XDP_DROP;
	return XDP_PASS;
}
