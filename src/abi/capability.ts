/** Linux capability numbers (linux/capability.h) that decide what bpf() allows. */
export const Cap = { NET_ADMIN: 12, SYS_ADMIN: 21, PERFMON: 38, BPF: 39 } as const;
