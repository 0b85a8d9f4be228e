// SPDX-License-Identifier: MIT
/*
 * The reference for tsbpf's loader benchmark: the same job as examples/tail-call/loader.ts,
 * done with libbpf. It opens and loads an object, puts two programs into a prog array, attaches
 * the dispatcher to an interface as XDP through a bpf_link, prints its own timings as one JSON
 * line on stdout, detaches and exits. No trace reading: only load-to-attached is measured.
 *
 *   cc -O2 bench/c/loader.c -lbpf -lelf -lz -o loader
 *   loader OBJECT IFACE DISPATCHER MAP SLOT0_PROG SLOT1_PROG
 *
 * Times are CLOCK_MONOTONIC nanoseconds, the clock Node's process.hrtime uses, so the parent can
 * compute "spawned -> attached" from `attached_at_ns`.
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int quiet(enum libbpf_print_level level, const char *fmt, va_list args)
{
	/* Warnings only: libbpf's debug chatter would cost time and is not part of the job. */
	return level == LIBBPF_WARN ? vfprintf(stderr, fmt, args) : 0;
}

static int fill_slot(struct bpf_object *obj, struct bpf_map *map, __u32 key, const char *name)
{
	struct bpf_program *p = bpf_object__find_program_by_name(obj, name);
	int fd = p ? bpf_program__fd(p) : -1;

	if (fd < 0) {
		fprintf(stderr, "loader: no program %s\n", name);
		return -1;
	}
	if (bpf_map_update_elem(bpf_map__fd(map), &key, &fd, BPF_ANY)) {
		perror("loader: bpf_map_update_elem");
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	long long t0 = now_ns();

	if (argc != 7) {
		fprintf(stderr, "usage: loader OBJECT IFACE DISPATCHER MAP SLOT0_PROG SLOT1_PROG\n");
		return 2;
	}
	libbpf_set_print(quiet);

	struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
	if (!obj) {
		perror("loader: bpf_object__open_file");
		return 1;
	}
	long long t_open = now_ns();
	if (bpf_object__load(obj)) {
		perror("loader: bpf_object__load");
		return 1;
	}
	long long t_load = now_ns();

	struct bpf_map *map = bpf_object__find_map_by_name(obj, argv[4]);
	struct bpf_program *main_prog = bpf_object__find_program_by_name(obj, argv[3]);
	if (!map || !main_prog) {
		fprintf(stderr, "loader: no map %s or program %s\n", argv[4], argv[3]);
		return 1;
	}
	if (fill_slot(obj, map, 0, argv[5]) || fill_slot(obj, map, 1, argv[6]))
		return 1;
	long long t_slots = now_ns();

	/*
	 * The interface's name is resolved in the attach phase, as tsbpf's attachXdp({ iface })
	 * does: both pay for the socket and ioctl behind it (100-200 us here).
	 */
	unsigned int ifindex = if_nametoindex(argv[2]);
	if (ifindex == 0) {
		perror("loader: if_nametoindex");
		return 1;
	}
	struct bpf_link *link = bpf_program__attach_xdp(main_prog, (int)ifindex);
	if (!link) {
		perror("loader: bpf_program__attach_xdp");
		return 1;
	}
	long long t_attached = now_ns();

	printf("{\"open_ns\":%lld,\"load_ns\":%lld,\"slots_ns\":%lld,\"attach_ns\":%lld,"
	       "\"main_to_attached_ns\":%lld,\"attached_at_ns\":%lld}\n",
	       t_open - t0, t_load - t_open, t_slots - t_load, t_attached - t_slots, t_attached - t0,
	       t_attached);
	fflush(stdout);

	bpf_link__destroy(link);
	bpf_object__close(obj);
	return 0;
}
