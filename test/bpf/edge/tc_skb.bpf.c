// tc (sched_cls) programs on a test_run skb: the __sk_buff context, direct packet access and the
// skb helpers, driven by globals and compared between the VM and the kernel
// (test/kernel/vm-vs-kernel-tc.test.ts).
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

char _license[] SEC("license") = "GPL";

/* One global so its layout is fixed: inputs set by the test before each run (in), results read
 * after it (out), and a string for strtol/strtoul (text). */
struct {
	__u64 in[16];
	__s64 out[40];
	char text[32];
} g;
#define in g.in
#define out g.out
#define text g.text

SEC("tc")
int fields(struct __sk_buff *s)
{
	out[0] = s->len;
	out[1] = s->pkt_type;
	out[2] = s->mark;
	out[3] = s->queue_mapping;
	out[4] = s->protocol;
	out[5] = s->vlan_present;
	out[6] = s->vlan_tci;
	out[7] = s->vlan_proto;
	out[8] = s->priority;
	out[9] = s->ingress_ifindex;
	out[10] = s->ifindex;
	out[11] = s->tc_index;
	out[12] = s->cb[0];
	out[13] = s->cb[1];
	out[14] = s->cb[4];
	out[15] = s->tc_classid;
	out[16] = s->data_end - s->data;
	out[17] = s->data - s->data_meta;
	out[18] = s->napi_id;
	out[19] = s->tstamp;
	out[20] = s->wire_len;
	out[21] = s->gso_segs;
	out[22] = s->gso_size;
	out[23] = s->hwtstamp;
	out[24] = s->hash;
	/* Direct packet access: read byte 13, write byte 0. */
	void *data = (void *)(long)s->data;
	void *end = (void *)(long)s->data_end;
	if (data + 14 <= end) {
		out[25] = ((__u8 *)data)[13];
		((__u8 *)data)[0] = (__u8)in[8];
	}
	/* Writable fields. */
	volatile struct __sk_buff *w = s;
	if (in[0]) {
		w->mark = in[1];
		w->priority = in[2];
		w->cb[1] = in[3];
		w->tc_index = in[4];
		w->tc_classid = in[5];
		w->queue_mapping = in[6];
		w->tstamp = in[7];
	}
	out[26] = w->mark;
	out[27] = w->tc_index;
	out[28] = w->queue_mapping;
	out[29] = w->tc_classid;
	return in[9];
}

SEC("tc")
int helpers(struct __sk_buff *s)
{
	__u8 buf[16] = {};
	__u32 off = in[0], len = in[1] & 15;
	out[0] = bpf_skb_load_bytes(s, off, buf, len ? len : 1);
	out[1] = *(__u64 *)buf;
	*(__u64 *)buf = in[2];
	out[2] = bpf_skb_store_bytes(s, in[3], buf, 8, in[4]);
	out[3] = bpf_l3_csum_replace(s, in[5], in[6], in[7], in[8]);
	out[4] = bpf_l4_csum_replace(s, in[5] + 2, in[6], in[7], in[8] | in[10]);
	long v = 0;
	unsigned long u = 0;
	out[5] = bpf_strtol(text, (in[11] & 31) | 1, in[12], &v);
	out[6] = v;
	out[7] = bpf_strtoul(text, (in[11] & 31) | 1, in[12], &u);
	out[8] = u;
	__u64 pr = 7;
	out[9] = bpf_probe_read_kernel(&pr, 8, text);
	out[10] = pr;
	pr = 7;
	out[11] = bpf_probe_read_kernel(&pr, 8, (void *)(long)in[9]);
	out[12] = pr;
	if (in[13])
		return bpf_redirect(in[14], in[15]);
	return TC_ACT_OK;
}

/* clang's intrinsics for the legacy packet loads. */
unsigned long long ld_b(void *skb, unsigned long long off) asm("llvm.bpf.load.byte");
unsigned long long ld_h(void *skb, unsigned long long off) asm("llvm.bpf.load.half");
unsigned long long ld_w(void *skb, unsigned long long off) asm("llvm.bpf.load.word");

/* Legacy packet loads (LD_ABS with a constant, LD_IND with in[0]); a load out of bounds ends the
 * program with 0, so out[] shows how far it got. */
SEC("tc")
int legacy(struct __sk_buff *s)
{
	out[0] = ld_b(s, 12);
	out[1] = ld_h(s, 12);
	out[2] = ld_w(s, 26);
	__u64 off = in[0];
	out[3] = ld_b(s, off);
	out[4] = ld_h(s, off);
	out[5] = ld_w(s, off);
	out[6] = 1;
	return 77;
}

/* The packet-resizing helpers, up to four steps per run: step k is in[k] (1 change_head,
 * 2 change_tail, 3 pull_data, 4 adjust_room, 0 none) with argument in[4 + k], flags in[8 + k]
 * and adjust_room's mode in[12 + k]. After each step: its result, len, data_end - data (data
 * and data_end re-read, as the verifier requires), protocol, and the first and last bytes. Then
 * gso_size/gso_segs, and through LD_ABS the byte at the network header and the EtherType at the
 * MAC header, which show where the helpers left those headers. */
#define SKF_NET_OFF (-0x100000)
#define SKF_LL_OFF (-0x200000)
SEC("tc")
int resize(struct __sk_buff *s)
{
#pragma unroll
	for (int k = 0; k < 4; k++) {
		__u64 a = in[4 + k], flags = in[8 + k];
		long r = 0;
		switch (in[k]) {
		case 1:
			r = bpf_skb_change_head(s, a, flags);
			break;
		case 2:
			r = bpf_skb_change_tail(s, a, flags);
			break;
		case 3:
			r = bpf_skb_pull_data(s, a);
			break;
		case 4:
			r = bpf_skb_adjust_room(s, (__s32)a, in[12 + k], flags);
			break;
		default:
			continue;
		}
		void *data = (void *)(long)s->data;
		void *end = (void *)(long)s->data_end;
		out[k * 6] = r;
		out[k * 6 + 1] = s->len;
		out[k * 6 + 2] = end - data;
		out[k * 6 + 3] = s->protocol;
		if (data + 1 <= end)
			out[k * 6 + 4] = *(__u8 *)data;
		__u8 last = 0;
		bpf_skb_load_bytes(s, s->len - 1, &last, 1);
		out[k * 6 + 5] = last;
	}
	out[24] = s->gso_size;
	out[25] = s->gso_segs;
	out[26] = 1;
	out[27] = ld_b(s, SKF_NET_OFF);
	out[28] = ld_h(s, SKF_LL_OFF + 12);
	out[29] = 2;
	return s->len & 0xff;
}
