/* ppn-vm subcommands: vm.c (guests) and fleet.c (agent, controller). */
#pragma once

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

/* fleet.c */
int cmd_agent(int argc, char **argv);
int cmd_controller(int argc, char **argv);
int cmd_fleet(int argc, char **argv);
int cmd_place(int argc, char **argv);
int cmd_request(int argc, char **argv);
