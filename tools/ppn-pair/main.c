/* ppn-pair — see doc/ for the manual. */
#include <stdio.h>

#include "ppn/crypto.h"
#include "ppn/ledger.h"
#include "ppn/wg.h"
#include "tool-util.h"

static const struct tool_cmd cmds[] = {
    {NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
    return tool_dispatch("ppn-pair", ppn_crypto_version(), cmds, argc, argv);
}
