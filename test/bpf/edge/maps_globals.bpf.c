// Maps of every type the VM supports, updated from a program, global data and printk,
// compared between the VM and the kernel (test/kernel/vm-vs-kernel-maps.test.ts).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char _license[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} arr SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} pcpu_arr SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} pcpu_hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} lru SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} rb SEC(".maps");

const volatile __u32 ro_mult = 3;
const char ro_tag[8] = "tsbpf";
__u64 data_counter = 100;
__u64 bss_last_len;
__u32 bss_hist[4];

struct event {
	__u32 len;
	__u32 first;
	__u64 n;
};

static __always_inline __u32 first_byte(struct xdp_md *ctx)
{
	unsigned char *data = (void *)(long)ctx->data;
	unsigned char *end = (void *)(long)ctx->data_end;
	if (data + 15 > end)
		return 0;
	return data[14];
}

SEC("xdp")
int update_all(struct xdp_md *ctx)
{
	__u32 k = first_byte(ctx) & 3;
	__u64 one = 1, *v;
	__u32 len = ctx->data_end - ctx->data;

	v = bpf_map_lookup_elem(&arr, &k);
	if (v)
		__sync_fetch_and_add(v, ro_mult);
	v = bpf_map_lookup_elem(&pcpu_arr, &k);
	if (v)
		*v += len;
	v = bpf_map_lookup_elem(&hash, &k);
	if (v)
		*v += 1;
	else
		bpf_map_update_elem(&hash, &k, &one, BPF_NOEXIST);
	if (bpf_map_update_elem(&pcpu_hash, &k, &one, BPF_NOEXIST) != 0) {
		v = bpf_map_lookup_elem(&pcpu_hash, &k);
		if (v)
			*v += 10;
	}
	__u64 lv = len;
	bpf_map_update_elem(&lru, &k, &lv, BPF_ANY);
	if (k == 3)
		bpf_map_delete_elem(&hash, &k);

	data_counter += 1;
	bss_last_len = len;
	bss_hist[k & 3] += 1;

	struct event e = { .len = len, .first = first_byte(ctx), .n = data_counter };
	bpf_ringbuf_output(&rb, &e, sizeof(e), 0);
	struct event *r = bpf_ringbuf_reserve(&rb, sizeof(*r), 0);
	if (r) {
		r->len = len;
		r->first = k;
		r->n = ro_mult;
		if (k == 2)
			bpf_ringbuf_discard(r, 0);
		else
			bpf_ringbuf_submit(r, 0);
	}
	bpf_printk("k=%u len=%u tag=%s", k, len, ro_tag);
	bpf_printk("five %d %u %x %lld %c", -(int)k, len, 0xbeef, (long long)data_counter, 'A' + k);
	return XDP_PASS + (k == 1);
}

/* The ring buffer's positions as the program sees them, into arr[0..2] via the hash map. */
SEC("xdp")
int rb_query(struct xdp_md *ctx)
{
	__u32 k;
	__u64 v;
	k = 10; v = bpf_ringbuf_query(&rb, BPF_RB_AVAIL_DATA);
	bpf_map_update_elem(&hash, &k, &v, BPF_ANY);
	k = 11; v = bpf_ringbuf_query(&rb, BPF_RB_RING_SIZE);
	bpf_map_update_elem(&hash, &k, &v, BPF_ANY);
	k = 12; v = bpf_ringbuf_query(&rb, BPF_RB_CONS_POS);
	bpf_map_update_elem(&hash, &k, &v, BPF_ANY);
	k = 13; v = bpf_ringbuf_query(&rb, BPF_RB_PROD_POS);
	bpf_map_update_elem(&hash, &k, &v, BPF_ANY);
	return XDP_PASS;
}
