/* ppn-ledger — see doc/ for the manual. */
#include <stdio.h>

#include "ppn/ledger.h"
#include "tool-util.h"

static const struct tool_cmd cmds[] = {
    {NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
    return tool_dispatch("ppn-ledger", ppn_ledger_version(), cmds, argc, argv);
}
