// Raw instruction encodings whose results the VM must reproduce exactly, run on the kernel
// by test/vm/interpreter-kernel.test.ts. Written as .quad words so that clang 14 (which lacks
// -mcpu=v4) can still emit v4 instructions. Each case X gives X_lo (r0's low word as the XDP
// return value) and X_hi (r0 >> 32).
// tsbpf-cflags: -mcpu=v3
#define SEC(n) __attribute__((section(n), used))
#define CASE(name, body) \
  SEC("xdp") __attribute__((naked)) int name##_lo(void) { asm volatile(body "exit;"); } \
  SEC("xdp") __attribute__((naked)) int name##_hi(void) { asm volatile(body "r0 >>= 32; exit;"); }

// r0 = -1; w0 += 0
CASE(a32zx, ".quad 0xffffffff000000b7;" ".quad 0x0000000000000004;")
// r0 = -1; w0 = -1
CASE(mov32n, ".quad 0xffffffff000000b7;" ".quad 0xffffffff000000b4;")
// r0 = 3; r1 = 65; r0 <<= r1
CASE(lsh65, ".quad 0x00000003000000b7;" ".quad 0x00000041000001b7;" ".quad 0x000000000000106f;")
// r0 = 3; r1 = 33; w0 <<= w1
CASE(lsh32r33, ".quad 0x00000003000000b7;" ".quad 0x00000021000001b7;" ".quad 0x000000000000106c;")
// r0 = -1; r1 = 70; r0 >>= r1
CASE(rsh64r70, ".quad 0xffffffff000000b7;" ".quad 0x00000046000001b7;" ".quad 0x000000000000107f;")
// w0 = INT_MIN; w0 s>>= 1
CASE(arsh32, ".quad 0x80000000000000b4;" ".quad 0x00000001000000c4;")
// r0 = 0xffffffff00000000; r0 s>>= 4
CASE(arsh64, ".quad 0x0000000000000018;" ".quad 0xffffffff00000000;" ".quad 0x00000004000000c7;")
// r0 = 7; r1 = 0; r0 /= r1
CASE(div0, ".quad 0x00000007000000b7;" ".quad 0x00000000000001b7;" ".quad 0x000000000000103f;")
// r0 = 0xffffffff00000005; r1 = 0; r0 %= r1
CASE(mod0, ".quad 0x0000000500000018;" ".quad 0xffffffff00000000;" ".quad 0x00000000000001b7;" ".quad 0x000000000000109f;")
// r0 = 0xffffffff00000005; r1 = 0; w0 %= w1
CASE(mod32z, ".quad 0x0000000500000018;" ".quad 0xffffffff00000000;" ".quad 0x00000000000001b7;" ".quad 0x000000000000109c;")
// w0 = -2; w0 /= -1
CASE(div32m1, ".quad 0xfffffffe000000b4;" ".quad 0xffffffff00000034;")
// r0 = -1; r0 /= -1
CASE(div64m1, ".quad 0xffffffff000000b7;" ".quad 0xffffffff00000037;")
// r0 = 0xffffffff12345678; r1 = 0x10000000f; r0 /= r1
CASE(divwide, ".quad 0x1234567800000018;" ".quad 0xffffffff00000000;" ".quad 0x0000000f00000118;" ".quad 0x0000000100000000;" ".quad 0x000000000000103f;")
// r0 = 0xffffffff12345678; r1 = 0x10000000f; r0 %= r1
CASE(modwide, ".quad 0x1234567800000018;" ".quad 0xffffffff00000000;" ".quad 0x0000000f00000118;" ".quad 0x0000000100000000;" ".quad 0x000000000000109f;")
// r0 = INT64_MIN; r0 s/= -1
CASE(sdivovf, ".quad 0x0000000000000018;" ".quad 0x8000000000000000;" ".quad 0xffffffff00010037;")
// r0 = INT64_MIN; r0 s%= -1
CASE(smodm1, ".quad 0x0000000000000018;" ".quad 0x8000000000000000;" ".quad 0xffffffff00010097;")
// w0 = INT_MIN; w0 s/= -1
CASE(sdiv32o, ".quad 0x80000000000000b4;" ".quad 0xffffffff00010034;")
// r0 = -13; r0 s%= 3
CASE(smod13, ".quad 0xfffffff3000000b7;" ".quad 0x0000000300010097;")
// r0 = -13; w0 s%= 3
CASE(smod32, ".quad 0xfffffff3000000b7;" ".quad 0x0000000300010094;")
// r0 = -13; r0 s/= 3
CASE(sdiv13, ".quad 0xfffffff3000000b7;" ".quad 0x0000000300010037;")
// r0 = -13; r1 = 0; r0 s/= r1
CASE(sdiv0, ".quad 0xfffffff3000000b7;" ".quad 0x00000000000001b7;" ".quad 0x000000000001103f;")
// r0 = -13; r1 = 0; r0 s%= r1
CASE(smod0, ".quad 0xfffffff3000000b7;" ".quad 0x00000000000001b7;" ".quad 0x000000000001109f;")
// r0 = -13; r1 = 0; w0 s%= w1
CASE(smod32z, ".quad 0xfffffff3000000b7;" ".quad 0x00000000000001b7;" ".quad 0x000000000001109c;")
// r0 = -0x7000000000000005; r1 = 0x100000003; r0 s/= r1
CASE(sdivwide, ".quad 0xfffffffb00000018;" ".quad 0x8fffffff00000000;" ".quad 0x0000000300000118;" ".quad 0x0000000100000000;" ".quad 0x000000000001103f;")
// r0 = -0x7000000000000005; r1 = 0x100000003; r0 s%= r1
CASE(smodwide, ".quad 0xfffffffb00000018;" ".quad 0x8fffffff00000000;" ".quad 0x0000000300000118;" ".quad 0x0000000100000000;" ".quad 0x000000000001109f;")
// r0 = 1; r0 = -r0
CASE(neg1, ".quad 0x00000001000000b7;" ".quad 0x0000000000000087;")
// r0 = 0x100000000; r0 = -r0
CASE(neg2p32, ".quad 0x0000000000000018;" ".quad 0x0000000100000000;" ".quad 0x0000000000000087;")
// w0 = INT_MIN; w0 = -w0
CASE(neg32min, ".quad 0x80000000000000b4;" ".quad 0x0000000000000084;")
// r0 = -1; r1 = -1; r0 *= r1
CASE(mulm1, ".quad 0xffffffff000000b7;" ".quad 0xffffffff000001b7;" ".quad 0x000000000000102f;")
// r0 = 0x123456789abcdef0; r1 = 0x0fedcba987654321; r0 *= r1
CASE(mulwide, ".quad 0x9abcdef000000018;" ".quad 0x1234567800000000;" ".quad 0x8765432100000118;" ".quad 0x0fedcba900000000;" ".quad 0x000000000000102f;")
// r0 = -3; w0 *= 0x10001
CASE(mul32, ".quad 0xfffffffd000000b7;" ".quad 0x0001000100000024;")
// r0 = V; r0 = be16 r0
CASE(be16, ".quad 0x5566778800000018;" ".quad 0x1122334400000000;" ".quad 0x00000010000000dc;")
// r0 = V; r0 = be32 r0
CASE(be32, ".quad 0x5566778800000018;" ".quad 0x1122334400000000;" ".quad 0x00000020000000dc;")
// r0 = V; r0 = be64 r0
CASE(be64, ".quad 0x5566778800000018;" ".quad 0x1122334400000000;" ".quad 0x00000040000000dc;")
// r0 = V; r0 = le16 r0
CASE(le16, ".quad 0x5566778800000018;" ".quad 0x1122334400000000;" ".quad 0x00000010000000d4;")
// r0 = V; r0 = le32 r0
CASE(le32, ".quad 0x5566778800000018;" ".quad 0x1122334400000000;" ".quad 0x00000020000000d4;")
// r0 = V; r0 = bswap16 r0
CASE(bswap16, ".quad 0x5566778800000018;" ".quad 0x1122334400000000;" ".quad 0x00000010000000d7;")
// r0 = V; r0 = bswap32 r0
CASE(bswap32, ".quad 0x5566778800000018;" ".quad 0x1122334400000000;" ".quad 0x00000020000000d7;")
// r0 = V; r0 = bswap64 r0
CASE(bswap64, ".quad 0x5566778800000018;" ".quad 0x1122334400000000;" ".quad 0x00000040000000d7;")
// r1 = 0x180; r0 = (s8) r1
CASE(movsx8, ".quad 0x00000180000001b7;" ".quad 0x00000000000810bf;")
// r1 = 0x8000; r0 = (s16) r1
CASE(movsx16, ".quad 0x00008000000001b7;" ".quad 0x00000000001010bf;")
// r1 = 0x180000000; r0 = (s32) r1
CASE(movsx32, ".quad 0x8000000000000118;" ".quad 0x0000000100000000;" ".quad 0x00000000002010bf;")
// r1 = 0x80; w0 = (s8) w1
CASE(movsx32b, ".quad 0x00000080000001b7;" ".quad 0x00000000000810bc;")
// *(u8 *)(r10 - 8) = 0x80; r0 = *(s8 *)(r10 - 8)
CASE(ldsxb, ".quad 0x00000080fff80a72;" ".quad 0x00000000fff8a091;")
// *(u16 *)(r10 - 8) = 0x8000; r0 = *(s16 *)(r10 - 8)
CASE(ldsxh, ".quad 0x00008000fff80a6a;" ".quad 0x00000000fff8a089;")
// *(u32 *)(r10 - 8) = INT_MIN; r0 = *(s32 *)(r10 - 8)
CASE(ldsxw, ".quad 0x80000000fff80a62;" ".quad 0x00000000fff8a081;")
// *(u64 *)(r10 - 8) = -2; r0 = *(u64 *)(r10 - 8)
CASE(stdwimm, ".quad 0xfffffffefff80a7a;" ".quad 0x00000000fff8a079;")
// *(u32 *)(r10-8) = -1; r1 = 0xdead000000000001; r1 = atomic_fetch_add((u32 *)(r10-8), w1); r0 = r1
CASE(faddw, ".quad 0xfffffffffff80a62;" ".quad 0x0000000100000118;" ".quad 0xdead000000000000;" ".quad 0x00000001fff81ac3;" ".quad 0x00000000000010bf;")
// ... then r0 = *(u64 *)(r10 - 8)
CASE(faddwmem, ".quad 0xfffffffffff80a7a;" ".quad 0x00000001000001b7;" ".quad 0x00000001fff81ac3;" ".quad 0x00000000fff8a079;")
// *(u64 *)(r10-8) = 0xffffffff; lock *(u64 *)(r10-8) += 1; r0 = *(u64 *)(r10-8)
CASE(add64mem, ".quad 0x00000000fff80a7a;" ".quad 0xfffffffffff80a62;" ".quad 0x00000001000001b7;" ".quad 0x00000000fff81adb;" ".quad 0x00000000fff8a079;")
// *(u64 *)(r10-8) = 0x0f; r1 = 0x3c; r1 = atomic_fetch_and(...); r0 = r1 * 256 + mem
CASE(fandd, ".quad 0x0000000ffff80a7a;" ".quad 0x0000003c000001b7;" ".quad 0x00000051fff81adb;" ".quad 0x00000000fff8a079;" ".quad 0x0000010000000127;" ".quad 0x000000000000100f;")
// *(u64 *)(r10-8) = -1; w1 = 0xf0; w1 = atomic_fetch_xor((u32 *)...); r0 = r1 ^ mem64
CASE(fxorw, ".quad 0xfffffffffff80a7a;" ".quad 0x000000f0000001b4;" ".quad 0x000000a1fff81ac3;" ".quad 0x00000000fff8a079;" ".quad 0x00000000000010af;")
// *(u64 *)(r10-8) = 5; r1 = 9; r1 = xchg(...); r0 = mem * r1
CASE(xchgd, ".quad 0x00000005fff80a7a;" ".quad 0x00000009000001b7;" ".quad 0x000000e1fff81adb;" ".quad 0x00000000fff8a079;" ".quad 0x000000000000102f;")
// *(u64 *)(r10-8) = 5; r0 = 0xdeadbeef00000005; r1 = 7; w0 = cmpxchg((u32 *)...); r0 += mem * 256
CASE(cmpxw, ".quad 0x00000005fff80a7a;" ".quad 0x0000000500000018;" ".quad 0xdeadbeef00000000;" ".quad 0x00000007000001b7;" ".quad 0x000000f1fff81ac3;" ".quad 0x00000000fff8a261;" ".quad 0x0000010000000227;" ".quad 0x000000000000200f;")
// *(u64 *)(r10-8) = 5; r0 = 6; r1 = 7; r0 = cmpxchg(...); r0 += mem * 256
CASE(cmpxdmis, ".quad 0x00000005fff80a7a;" ".quad 0x00000006000000b7;" ".quad 0x00000007000001b7;" ".quad 0x000000f1fff81adb;" ".quad 0x00000000fff8a279;" ".quad 0x0000010000000227;" ".quad 0x000000000000200f;")
// r1 = 0x100000000; r0 = 1; if w1 == 0 goto +1; r0 = 0
CASE(jeq32hi, ".quad 0x0000000000000118;" ".quad 0x0000000100000000;" ".quad 0x00000001000000b7;" ".quad 0x0000000000010116;" ".quad 0x00000000000000b7;")
// r1 = 0x100000000; r0 = 1; if r1 == 0 goto +1; r0 = 0
CASE(jeq64hi, ".quad 0x0000000000000118;" ".quad 0x0000000100000000;" ".quad 0x00000001000000b7;" ".quad 0x0000000000010115;" ".quad 0x00000000000000b7;")
// r1 = 0x80000000; r0 = 1; if w1 s> 0 goto +1; r0 = 0
CASE(jsgt32, ".quad 0x8000000000000118;" ".quad 0x0000000000000000;" ".quad 0x00000001000000b7;" ".quad 0x0000000000010166;" ".quad 0x00000000000000b7;")
// r1 = 0x80000000; r0 = 1; if r1 s> 0 goto +1; r0 = 0
CASE(jsgt64, ".quad 0x8000000000000118;" ".quad 0x0000000000000000;" ".quad 0x00000001000000b7;" ".quad 0x0000000000010165;" ".quad 0x00000000000000b7;")
// r1 = 0xffffffff; r0 = 1; if r1 == -1 goto +1; r0 = 0
CASE(jeqimm, ".quad 0xffffffff00000118;" ".quad 0x0000000000000000;" ".quad 0x00000001000000b7;" ".quad 0xffffffff00010115;" ".quad 0x00000000000000b7;")
// r1 = -2; r0 = 1; if r1 > -1 goto +1; r0 = 0
CASE(jgtm1, ".quad 0xfffffffe000001b7;" ".quad 0x00000001000000b7;" ".quad 0xffffffff00010125;" ".quad 0x00000000000000b7;")
// r1 = 0x100000000; r2 = 0x300000000; r0 = 1; if r1 & r2 goto +1; r0 = 0
CASE(jset64, ".quad 0x0000000000000118;" ".quad 0x0000000100000000;" ".quad 0x0000000000000218;" ".quad 0x0000000300000000;" ".quad 0x00000001000000b7;" ".quad 0x000000000001214d;" ".quad 0x00000000000000b7;")
// r0 = 1; if r0 == 5 goto +1; gotol +1; r0 = 2
CASE(gotol, ".quad 0x00000001000000b7;" ".quad 0x0000000500010015;" ".quad 0x0000000100000006;" ".quad 0x00000002000000b7;")

char _license[] SEC("license") = "GPL";
