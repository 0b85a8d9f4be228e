/*
 * For test/object/libbpf-compare.test.ts: loads OBJECT with the system's libbpf and prints, for
 * each map libbpf created, "NAME FLAGS" with the flags the kernel reports for it (hex), so the
 * test compares tsbpf's flags with what libbpf actually asks the kernel for, not with what its
 * debug log says at open (bpftool's own, older copy of libbpf logs and sets other flags).
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <stdio.h>
#include <string.h>

static int quiet(enum libbpf_print_level level, const char *fmt, va_list args)
{
	(void)level, (void)fmt, (void)args;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: map-flags OBJECT PIN_DIR\n");
		return 2;
	}
	libbpf_set_print(quiet);
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = argv[2]);
	struct bpf_object *obj = bpf_object__open_file(argv[1], &opts);
	if (!obj || bpf_object__load(obj)) {
		perror("map-flags: open or load");
		return 1;
	}
	struct bpf_map *map;
	bpf_object__for_each_map(map, obj) {
		struct bpf_map_info info;
		__u32 len = sizeof(info);
		memset(&info, 0, sizeof(info));
		if (bpf_obj_get_info_by_fd(bpf_map__fd(map), &info, &len)) {
			perror("map-flags: bpf_obj_get_info_by_fd");
			return 1;
		}
		printf("%s %x\n", bpf_map__name(map), info.map_flags);
	}
	bpf_object__close(obj);
	return 0;
}
