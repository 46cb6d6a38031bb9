/* Guest commands over libppn-vmm. */
#include "ppn/vmm.h"
#include "ppn-vm.h"
#include "tool-util.h"

int cmd_create(int argc, char **argv) { (void)argc; (void)argv; return tool_error("'create' is not implemented yet"); }
int cmd_start(int argc, char **argv) { (void)argc; (void)argv; return tool_error("'start' is not implemented yet"); }
int cmd_run(int argc, char **argv) { (void)argc; (void)argv; return tool_error("'run' is not implemented yet"); }
int cmd_status(int argc, char **argv) { (void)argc; (void)argv; return tool_error("'status' is not implemented yet"); }
int cmd_list(int argc, char **argv) { (void)argc; (void)argv; return tool_error("'list' is not implemented yet"); }
int cmd_balloon(int argc, char **argv) { (void)argc; (void)argv; return tool_error("'balloon' is not implemented yet"); }
int cmd_shutdown(int argc, char **argv) { (void)argc; (void)argv; return tool_error("'shutdown' is not implemented yet"); }
int cmd_stop(int argc, char **argv) { (void)argc; (void)argv; return tool_error("'stop' is not implemented yet"); }
int cmd_kill(int argc, char **argv) { (void)argc; (void)argv; return tool_error("'kill' is not implemented yet"); }
int cmd_unit(int argc, char **argv) { (void)argc; (void)argv; return tool_error("'unit' is not implemented yet"); }
int cmd_qmp(int argc, char **argv) { (void)argc; (void)argv; return tool_error("'qmp' is not implemented yet"); }
