/* Host agent and fleet controller over libppn-fleet. */
#include "ppn/fleet.h"
#include "ppn-vm.h"
#include "tool-util.h"

int cmd_agent(int argc, char **argv) { (void)argc; (void)argv; return tool_error("'agent' is not implemented yet"); }
int cmd_controller(int argc, char **argv) { (void)argc; (void)argv; return tool_error("'controller' is not implemented yet"); }
int cmd_fleet(int argc, char **argv) { (void)argc; (void)argv; return tool_error("'fleet' is not implemented yet"); }
int cmd_place(int argc, char **argv) { (void)argc; (void)argv; return tool_error("'place' is not implemented yet"); }
int cmd_request(int argc, char **argv) { (void)argc; (void)argv; return tool_error("'request' is not implemented yet"); }
