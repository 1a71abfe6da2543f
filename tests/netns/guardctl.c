// SPDX-License-Identifier: Apache-2.0
/*
 * guardctl: the guard's loader API (userspace/bpfload/guard.h) from a shell, for the netns
 * tests. Run it with `nsenter --net=/run/netns/NAME` rather than `ip netns exec`: the latter
 * remounts /sys and hides the bpffs where the pins live.
 *   guardctl attach IFNAME PORT [--rate N] [--burst N] [--max-conns N]
 *                   [--mode auto|native|generic] [--pin-dir DIR] [--cgroup DIR]
 *                   [--exempt PREFIX,...]
 *   guardctl status IFNAME PIN_DIR          mode and how many xdp_guard run on IFNAME
 *   guardctl block PIN_DIR ADDR MS          block ADDR for MS milliseconds
 *   guardctl counters PIN_DIR               "<reason> <packets>" per line
 *   guardctl conns PIN_DIR ADDR             open connections sockops counts for ADDR
 *   guardctl detach IFNAME PIN_DIR
 */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xdp/libxdp.h>

#include "guard.h"
#include "log.h"
#include "pinned_maps.h"

static int usage(void)
{
	fprintf(stderr, "usage: guardctl attach IFNAME PORT [--rate N] [--burst N] [--max-conns N] "
			"[--mode auto|native|generic] [--pin-dir DIR] [--cgroup DIR] [--exempt LIST]\n"
			"       guardctl status IFNAME PIN_DIR | block PIN_DIR ADDR MS | "
			"counters PIN_DIR | conns PIN_DIR ADDR | detach IFNAME PIN_DIR\n");
	return 2;
}

static int cmd_attach(int argc, char **argv)
{
	struct xw_guard_config cfg = { .ifname = argv[0], .port = (uint16_t)atoi(argv[1]) };
	struct xw_guard *g = NULL;
	int err;

	for (int i = 2; i + 1 < argc; i += 2) {
		const char *k = argv[i], *v = argv[i + 1];

		if (!strcmp(k, "--rate"))
			cfg.syn_rate = (uint32_t)strtoul(v, NULL, 10);
		else if (!strcmp(k, "--burst"))
			cfg.syn_burst = (uint32_t)strtoul(v, NULL, 10);
		else if (!strcmp(k, "--max-conns"))
			cfg.max_conns = (uint32_t)strtoul(v, NULL, 10);
		else if (!strcmp(k, "--pin-dir"))
			cfg.pin_dir = v;
		else if (!strcmp(k, "--cgroup"))
			cfg.cgroup = v;
		else if (!strcmp(k, "--exempt"))
			cfg.exempt = v;
		else if (!strcmp(k, "--mode"))
			cfg.mode = !strcmp(v, "native")	   ? XW_GUARD_MODE_NATIVE
				   : !strcmp(v, "generic") ? XW_GUARD_MODE_GENERIC
							   : XW_GUARD_MODE_AUTO;
		else
			return usage();
	}
	err = xw_guard_attach(&cfg, &g);
	if (err)
		return 1;
	printf("mode %s\n", xw_guard_mode_name(g));
	xw_guard_close(g);
	return 0;
}

static int cmd_status(const char *ifname, const char *pin_dir)
{
	struct xdp_multiprog *mp = xdp_multiprog__get_from_ifindex((int)if_nametoindex(ifname));
	struct xdp_program *p;
	struct xw_guard *g = NULL;
	int n = 0;

	if (!libxdp_get_error(mp)) {
		if (xdp_multiprog__is_legacy(mp)) {
			p = xdp_multiprog__main_prog(mp);
			n = p && !strcmp(xdp_program__name(p), "xdp_guard");
		} else {
			for (p = xdp_multiprog__next_prog(NULL, mp); p;
			     p = xdp_multiprog__next_prog(p, mp))
				n += !strcmp(xdp_program__name(p), "xdp_guard");
		}
		printf("mode %s\n", xdp_multiprog__attach_mode(mp) == XDP_MODE_NATIVE ? "native"
								       : "generic");
		xdp_multiprog__close(mp);
	}
	printf("xdp_guard %d\n", n);
	printf("maps %s\n", xw_guard_open(pin_dir, &g) == 0 ? "pinned" : "absent");
	xw_guard_close(g);
	return 0;
}

static int cmd_block(const char *pin_dir, const char *addr, const char *ms)
{
	struct xw_guard *g = NULL;
	uint8_t a[16];
	int err;

	if (xw_guard_addr_parse(addr, a))
		return usage();
	err = xw_guard_open(pin_dir, &g);
	if (!err)
		err = xw_guard_block_for(g, a, (uint32_t)strtoul(ms, NULL, 10));
	xw_guard_close(g);
	if (err)
		fprintf(stderr, "guardctl: block %s: %s\n", addr, strerror(-err));
	return err ? 1 : 0;
}

static int cmd_counters(const char *pin_dir)
{
	struct xw_guard *g = NULL;
	uint64_t c[XW_DROP__MAX];
	int err;

	err = xw_guard_open(pin_dir, &g);
	if (!err)
		err = xw_guard_counters(g, c);
	xw_guard_close(g);
	if (err) {
		fprintf(stderr, "guardctl: counters: %s\n", strerror(-err));
		return 1;
	}
	for (unsigned r = 0; r < XW_DROP__MAX; r++)
		printf("%s %llu\n", xw_drop_reason_name(r), (unsigned long long)c[r]);
	return 0;
}

static int cmd_conns(const char *pin_dir, const char *addr)
{
	struct xw_guard *g = NULL;
	uint8_t a[16];
	int32_t open = 0;
	int err;

	if (xw_guard_addr_parse(addr, a))
		return usage();
	err = xw_guard_open(pin_dir, &g);
	if (!err)
		err = xw_guard_open_conns(g, a, &open);
	xw_guard_close(g);
	if (err)
		return 1;
	printf("%d\n", open);
	return 0;
}

int main(int argc, char **argv)
{
	log_init("guardctl");
	xw_bpf_setup_logging();
	if (argc >= 4 && !strcmp(argv[1], "attach"))
		return cmd_attach(argc - 2, argv + 2);
	if (argc == 4 && !strcmp(argv[1], "status"))
		return cmd_status(argv[2], argv[3]);
	if (argc == 5 && !strcmp(argv[1], "block"))
		return cmd_block(argv[2], argv[3], argv[4]);
	if (argc == 3 && !strcmp(argv[1], "counters"))
		return cmd_counters(argv[2]);
	if (argc == 4 && !strcmp(argv[1], "conns"))
		return cmd_conns(argv[2], argv[3]);
	if (argc == 4 && !strcmp(argv[1], "detach"))
		return xw_guard_detach(argv[2], argv[3]) ? 1 : 0;
	return usage();
}
