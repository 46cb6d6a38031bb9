/* ppn-vm — guest VMs, the host agent and the fleet controller. */
#include "ppn/vmm.h"
#include "ppn-vm.h"
#include "tool-util.h"

/* vm.c; declared here so that ppn-vm.h (shared with fleet.c) stays as it is */
int cmd_cont(int argc, char **argv);
int cmd_reset(int argc, char **argv);
int cmd_reboot(int argc, char **argv);
int cmd_remove(int argc, char **argv);
int cmd_console(int argc, char **argv);

static const struct tool_cmd cmds[] = {
    {"create",     cmd_create,     "write a VM specification into the state directory"},
    {"start",      cmd_start,      "start a VM (direct runner, supervised)"},
    {"run",        cmd_run,        "run a VM in the foreground (what the systemd unit executes)"},
    {"status",     cmd_status,     "show a VM's run state, balloon and memory"},
    {"list",       cmd_list,       "list VMs in the state directory"},
    {"balloon",    cmd_balloon,    "set or show a VM's balloon target"},
    {"shutdown",   cmd_shutdown,   "graceful shutdown with a deadline, then force"},
    {"stop",       cmd_stop,       "pause a VM's vCPUs (QMP stop)"},
    {"cont",       cmd_cont,       "resume a paused VM's vCPUs (QMP cont)"},
    {"kill",       cmd_kill,       "end the QEMU process at once"},
    {"reset",      cmd_reset,      "reset a VM at once (QMP system_reset)"},
    {"reboot",     cmd_reboot,     "graceful reboot (power button, reset once down), with a deadline"},
    {"remove",     cmd_remove,     "remove a stopped VM's specification and state"},
    {"console",    cmd_console,    "print (or follow) a VM's serial console"},
    {"unit",       cmd_unit,       "print or install a VM's systemd unit"},
    {"qmp",        cmd_qmp,        "execute a raw QMP command"},
    {"agent",      cmd_agent,      "run the host agent (heartbeats, creation requests)"},
    {"controller", cmd_controller, "run the fleet controller"},
    {"fleet",      cmd_fleet,      "show the fleet as the controller sees it"},
    {"place",      cmd_place,      "ask the controller where a VM would go"},
    {"request",    cmd_request,    "request a VM: placement, confirmation, dispatch"},
    {NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
    return tool_dispatch("ppn-vm", ppn_vmm_version(), cmds, argc, argv);
}
