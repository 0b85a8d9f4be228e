// Exercises bpf_trace_printk / bpf_trace_vprintk with deterministic arguments so that the lines the
// kernel writes to trace_pipe can be compared with tsbpf's formatter (test/kernel/printk-vs-kernel).
// Every format string is unique: the test finds it in .rodata and pairs it with the args below.
// Keep this file and the table in test/kernel/printk-vs-kernel.test.ts in the same order.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

static const char rodata_str[] = "rodata-string";
// Longer than the 512-byte argument buffer bpf_bprintf_prepare copies %s arguments into.
static const char long_str[] =
	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789ABCDEF";

// The packet the test feeds in: 14 bytes Ethernet, then a 20-byte IPv4 header
// (src 10.0.0.1, dst 192.168.1.254), then a 16-byte IPv6 address 2001:db8::1:ff.
SEC("xdp")
int printk_ints(struct xdp_md *ctx)
{
	bpf_printk("ints %d %i %u", -5, 42, 4000000000u);
	bpf_printk("hex %x %X %x", 0xdeadbeefu, 0xdeadbeefu, 0);
	bpf_printk("long %ld %lu %lx", -1234567890123L, 18446744073709551615UL, 0x1122334455667788UL);
	bpf_printk("llong %lld %llu %llX", -9223372036854775807LL - 1, 12345678901234ULL, 0xabcdef0123ULL);
	bpf_printk("width [%5d] [%-5d] [%05d]", 42, 42, 42);
	bpf_printk("flags [%+d] [% d] [%+d]", 7, 7, -7);
	bpf_printk("zero-neg [%08d] [%-08d] [%+08d]", -42, -42, 42);
	bpf_printk("hexw [%08x] [%-8X|] [%8lx]", 0xbeefu, 0xbeefu, 0x12345UL);
	bpf_printk("trunc32 %d %u %x", 0x1ffffffffLL, 0x100000005LL, 0xabcdef0012345678LL);
	bpf_printk("pct %% %d%%", 100);
	bpf_printk("zero %d %u %x", 0, 0, 0);
	bpf_printk("big width [%30lld]", -1LL);
	bpf_printk("no newline at end");
	bpf_printk("with newline at end\n");
	bpf_printk("tab\there and\ttab");
	bpf_printk("multi\nline %d\nmessage", 3);
	return XDP_PASS;
}

SEC("xdp")
int printk_strings(struct xdp_md *ctx)
{
	char stack_str[16] = "stack-str";
	bpf_printk("str [%s] [%s]", stack_str, rodata_str);
	bpf_printk("strw [%12s] [%-12s]", stack_str, stack_str);
	bpf_printk("strbad [%s] [%s]", (void *)0, (void *)1234);
	bpf_printk("pks [%pks]", rodata_str);
	bpf_printk("chars [%c%c%c] [%3c] [%-3c]", 'a', 'B', '!', 'x', 'y');
	bpf_printk("char-width [%03c]", 'z');
	return XDP_PASS;
}

SEC("xdp")
int printk_pointers(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	if (data + 14 + 20 + 16 > end)
		return XDP_ABORTED;
	bpf_printk("ip4 %pI4 %pi4", data + 14 + 12, data + 14 + 16);
	bpf_printk("ip6 %pI6", data + 14 + 20);
	bpf_printk("ip6i %pi6", data + 14 + 20);
	bpf_printk("ip4bad %pI4 [%5pI4]", (void *)0, data + 14 + 12);
	bpf_printk("px %px %px", 0x1234abcdUL, 0);
	bpf_printk("pxw [%20px]", 0xffUL);
	bpf_printk("pnull %p %pK", 0, 0);
	bpf_printk("ps [%ps] [%pS]", 0, 0);
	bpf_printk("p-suffix %pI4xyz!", data + 14 + 12);
	return XDP_PASS;
}

SEC("xdp")
int printk_vprintk(struct xdp_md *ctx)
{
	char s[8] = "vstr";
	bpf_printk("v4 %d %d %d %d", 1, -2, 3, -4);
	bpf_printk("v6 %d %u %x %ld %s %c", 10, 20, 30, 40L, s, 'Q');
	bpf_printk("v12 %d %d %d %d %d %d %d %d %d %d %d %d", 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12);
	return XDP_PASS;
}

SEC("xdp")
int printk_errors(struct xdp_md *ctx)
{
	long r;
	r = bpf_printk("bad conv %q", 1);
	bpf_printk("ret bad-conv %ld", r);
	r = bpf_printk("bad prec %.3d", 1);
	bpf_printk("ret bad-prec %ld", r);
	r = bpf_printk("bad hash %#x", 1);
	bpf_printk("ret bad-hash %ld", r);
	r = bpf_printk("too many %d %d %d %d");
	bpf_printk("ret too-many %ld", r);
	r = bpf_printk("bad s-suffix %sx", rodata_str);
	bpf_printk("ret bad-s-suffix %ld", r);
	r = bpf_printk("bad pa %pa", 0);
	bpf_printk("ret bad-pa %ld", r);
	r = bpf_printk("bad lc %lc", 'c');
	bpf_printk("ret bad-lc %ld", r);
	r = bpf_printk("bad ctl \x01");
	bpf_printk("ret bad-ctl %ld", r);
	r = bpf_printk("bad trailing %");
	bpf_printk("ret bad-trailing %ld", r);
	r = bpf_printk("ok ret %d", 12345);
	bpf_printk("ret ok %ld", r);
	r = bpf_printk("long out [%1100d]", 7);
	bpf_printk("ret long-out %ld", r);
	r = bpf_printk("nul char [%c] after", 0);
	bpf_printk("ret nul-char %ld", r);
	r = bpf_printk("long str [%s]", long_str);
	bpf_printk("ret long-str %ld", r);
	r = bpf_printk("nospc %s %d", long_str, 5);
	bpf_printk("ret nospc %ld", r);
	r = bpf_printk("nospc-c %s%c", long_str, 'c');
	bpf_printk("ret nospc-c %ld", r);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
