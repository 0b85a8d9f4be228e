// SPDX-License-Identifier: GPL-2.0
/* Object-model fixture: pre-BTF `maps` section definitions and a `version` section. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* The layout libbpf's legacy loader reads: five u32 fields. */
struct legacy_map_def {
	unsigned int type;
	unsigned int key_size;
	unsigned int value_size;
	unsigned int max_entries;
	unsigned int map_flags;
};

struct legacy_map_def counts SEC("maps") = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = 4,
	.value_size = 8,
	.max_entries = 16,
};

struct legacy_map_def table SEC("maps") = {
	.type = BPF_MAP_TYPE_HASH,
	.key_size = 8,
	.value_size = 4,
	.max_entries = 1024,
	.map_flags = BPF_F_NO_PREALLOC,
};

unsigned int _version SEC("version") = 0x050a00;
char _license[] SEC("license") = "GPL";

SEC("socket")
int count_packets(struct __sk_buff *skb)
{
	__u32 key = skb->protocol & 15;
	__u64 *v = bpf_map_lookup_elem(&counts, &key);
	__u64 k2 = skb->len;

	if (v)
		__sync_fetch_and_add(v, 1);
	bpf_map_lookup_elem(&table, &k2);
	return 0;
}
