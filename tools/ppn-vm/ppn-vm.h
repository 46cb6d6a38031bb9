/* ppn-vm subcommands: vm.c (guests) and fleet.c (agent, controller). */
#pragma once

#include <stddef.h>

/* vm.c */
int cmd_create(int argc, char **argv);
int cmd_start(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_balloon(int argc, char **argv);
int cmd_shutdown(int argc, char **argv);
int cmd_stop(int argc, char **argv);
int cmd_kill(int argc, char **argv);
int cmd_unit(int argc, char **argv);
int cmd_qmp(int argc, char **argv);
int cmd_run(int argc, char **argv);

/* The text of an option's file (--user-data, --network-config, an --ssh-key
 * file) of at most 'max' bytes, without NUL bytes; NULL after one line
 * naming the option and file (vm.c; create and request). */
char *vm_read_option_file(const char *opt, const char *path, size_t max);

/* fleet.c */
int cmd_agent(int argc, char **argv);
int cmd_controller(int argc, char **argv);
int cmd_fleet(int argc, char **argv);
int cmd_place(int argc, char **argv);
int cmd_request(int argc, char **argv);
