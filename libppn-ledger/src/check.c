/* What an entry means, checked before anything is written: a WORM ledger cannot be corrected,
 * so an entry the ledger would carry forever must make sense, not only be well formed.
 * Every refusal names the field (as the JSON form spells it) and the rule. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "internal.h"
#include "ledger-private.h"
#include "ppn-common.h"
#include "topology.h"

static int why(char *msg, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int why(char *msg, size_t size, const char *fmt, ...)
{
    if (msg && size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, size, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

static bool all_zero(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= p[i];
    return acc == 0;
}

/* Canonical dotted-quad IPv4 ("10.8.0.2": four decimal numbers 0..255, no leading zeros). */
bool check_ipv4(const char *s, uint32_t *ret)
{
    struct in_addr a;
    char back[INET_ADDRSTRLEN];
    if (strlen(s) >= sizeof(back) || inet_pton(AF_INET, s, &a) != 1 ||
        !inet_ntop(AF_INET, &a, back, sizeof(back)) || strcmp(back, s) != 0)
        return false;
    if (ret)
        *ret = ntohl(a.s_addr);
    return true;
}

/* A node's mesh address: "a.b.c.d", or "a.b.c.d/p" with the prefix of the mesh range (the
 * form ppn-pair writes).  *ret_prefix = p, or 0 if none was given. */
static bool mesh_address(const char *s, uint32_t *ret, unsigned *ret_prefix)
{
    char ip[INET_ADDRSTRLEN];
    const char *slash = strchr(s, '/');
    unsigned prefix = 0;
    size_t al = slash ? (size_t)(slash - s) : strlen(s);
    if (al >= sizeof(ip))
        return false;
    memcpy(ip, s, al);
    ip[al] = 0;
    if (slash) {
        const char *p = slash + 1;
        if (!*p || strlen(p) > 2 || (p[0] == '0') || strspn(p, "0123456789") != strlen(p))
            return false;
        prefix = (unsigned)atoi(p);
        if (prefix < 8 || prefix > 32)
            return false;
    }
    if (!check_ipv4(ip, ret))
        return false;
    if (ret_prefix)
        *ret_prefix = prefix;
    return true;
}

/* "a.b.c.d/p": 8 <= p <= 30 (room for hosts), no host bits set. */
static int check_range(const char *s, uint32_t *ret_net, unsigned *ret_prefix, char *msg,
                       size_t size, const char *field)
{
    const char *slash = strchr(s, '/');
    char ip[INET_ADDRSTRLEN];
    if (!slash || (size_t)(slash - s) >= sizeof(ip))
        return why(msg, size, "\"%s\": \"%s\" is not an IPv4 range of the form a.b.c.d/prefix",
                   field, s);
    memcpy(ip, s, (size_t)(slash - s));
    ip[slash - s] = 0;
    uint32_t a;
    if (!check_ipv4(ip, &a))
        return why(msg, size, "\"%s\": \"%s\" is not a dotted-quad IPv4 address", field, ip);
    const char *p = slash + 1;
    unsigned prefix = 0;
    if (!*p || strlen(p) > 2 || (p[0] == '0' && p[1]) || strspn(p, "0123456789") != strlen(p))
        return why(msg, size, "\"%s\": prefix \"%s\" is not a decimal number", field, p);
    prefix = (unsigned)atoi(p);
    if (prefix < 8 || prefix > 30)
        return why(msg, size, "\"%s\": prefix /%u is outside /8../30", field, prefix);
    uint32_t mask = ~0U << (32 - prefix);
    if (a & ~mask)
        return why(msg, size, "\"%s\": %s has host bits set beyond /%u (the network is %u.%u.%u.%u/%u)",
                   field, ip, prefix, (a & mask) >> 24, (a & mask) >> 16 & 255, (a & mask) >> 8 & 255,
                   a & mask & 255, prefix);
    if (ret_net)
        *ret_net = a;
    if (ret_prefix)
        *ret_prefix = prefix;
    return 0;
}

/* RFC 1123 host name: labels of letters, digits and '-', 1..63 bytes, not starting or ending
 * with '-'; 1..253 bytes in all. */
static bool hostname_ok(const char *s, size_t n)
{
    if (n == 0 || n > 253)
        return false;
    size_t label = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '.') {
            if (label == 0 || s[i - 1] == '-')
                return false;
            label = 0;
            continue;
        }
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  (c == '-' && label > 0);
        if (!ok || ++label > 63)
            return false;
    }
    return label > 0 && s[n - 1] != '-';
}

/* "" (none), or host:port with host a name, dotted-quad IPv4 or [IPv6], port 1..65535. */
static int check_endpoint(const char *s, const char *tn, char *msg, size_t size)
{
    if (!*s)
        return 0;
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s)
        return why(msg, size, "%s: \"endpoint\": \"%s\" is not host:port", tn, s);
    const char *port = colon + 1;
    size_t pl = strlen(port);
    if (pl == 0 || pl > 5 || strspn(port, "0123456789") != pl || port[0] == '0' || atoi(port) > 65535)
        return why(msg, size, "%s: \"endpoint\": port \"%s\" is not a number 1..65535", tn, port);
    size_t hl = (size_t)(colon - s);
    char host[256];
    if (hl >= sizeof(host))
        return why(msg, size, "%s: \"endpoint\": host is longer than 253 bytes", tn);
    memcpy(host, s, hl);
    host[hl] = 0;
    if (host[0] == '[') {
        struct in6_addr a6;
        if (hl < 3 || host[hl - 1] != ']')
            return why(msg, size, "%s: \"endpoint\": \"%s\" is not [IPv6 address]", tn, host);
        host[hl - 1] = 0;
        if (inet_pton(AF_INET6, host + 1, &a6) != 1)
            return why(msg, size, "%s: \"endpoint\": \"%s\" is not an IPv6 address", tn, host + 1);
        return 0;
    }
    if (strspn(host, "0123456789.") == hl) {
        if (!check_ipv4(host, NULL))
            return why(msg, size, "%s: \"endpoint\": \"%s\" is not a dotted-quad IPv4 address", tn, host);
        return 0;
    }
    if (strchr(host, ':'))
        return why(msg, size, "%s: \"endpoint\": an IPv6 host must be in brackets, as [%s]:%s", tn, host, port);
    if (!hostname_ok(host, hl))
        return why(msg, size, "%s: \"endpoint\": host \"%s\" is not a host name (RFC 1123: letters, "
                   "digits and '-' in dot-separated labels)", tn, host);
    return 0;
}

/* A VM name as libppn-vmm accepts it: 1..63 of a-z, 0-9, '-', not starting with '-'. */
static bool vm_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 63)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c == '-' && i > 0)))
            return false;
    }
    return true;
}

static bool no_space_or_control(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= 0x20 || *p == 0x7f)
            return false;
    return true;
}

static bool no_control(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return false;
    return true;
}

/* The fields of type t (a replacement's too), as they are spelt in JSON. */
static int check_body(uint32_t t, const struct ppn_ledger_entry *e, const char *tn, char *msg,
                      size_t size)
{
    switch (t) {
    case PPN_LEDGER_ENTRY_GENESIS:
        if (!e->text[0] || !no_space_or_control(e->text) || strchr(e->text, '+'))
            return why(msg, size, "%s: \"origin\": \"%s\" is not a note key name (non-empty, no "
                       "spaces, no '+')", tn, e->text);
        if (all_zero(e->subject, 32))
            return why(msg, size, "%s: \"subject\": the administrator key is missing (all zero)", tn);
        return check_range(e->mesh, NULL, NULL, msg, size, "mesh");
    case PPN_LEDGER_ENTRY_NODE_JOIN: {
        if (all_zero(e->subject, 32))
            return why(msg, size, "%s: \"subject\": the node's identity key is missing (all zero)", tn);
        if (all_zero(e->wg_key, 32))
            return why(msg, size, "%s: \"wg_key\": the node's WireGuard key is missing (all zero)", tn);
        if (!mesh_address(e->mesh, NULL, NULL))
            return why(msg, size, "%s: \"mesh\": \"%s\" is not a dotted-quad IPv4 address "
                       "(four numbers 0..255, no leading zeros; /prefix of the range allowed)", tn,
                       e->mesh);
        int r = check_endpoint(e->endpoint, tn, msg, size);
        if (r < 0)
            return r;
        if (!hostname_ok(e->hostname, strlen(e->hostname)))
            return why(msg, size, "%s: \"hostname\": \"%s\" is not a host name (RFC 1123: letters, "
                       "digits and '-' in dot-separated labels of 1..63, at most 253 bytes)", tn,
                       e->hostname);
        return 0;
    }
    case PPN_LEDGER_ENTRY_NODE_REVOKE:
        if (all_zero(e->subject, 32))
            return why(msg, size, "%s: \"subject\": the node's identity key is missing (all zero)", tn);
        if (!no_control(e->text))
            return why(msg, size, "%s: \"reason\": control characters are not allowed", tn);
        return 0;
    case PPN_LEDGER_ENTRY_CAP_GRANT:
    case PPN_LEDGER_ENTRY_CAP_REVOKE:
        if (all_zero(e->subject, 32))
            return why(msg, size, "%s: \"subject\": the key is missing (all zero)", tn);
        if (!e->capability[0] || !no_space_or_control(e->capability))
            return why(msg, size, "%s: \"capability\": \"%s\" is not a capability name (non-empty, "
                       "no spaces or control characters)", tn, e->capability);
        if (!no_control(e->scope))
            return why(msg, size, "%s: \"scope\": control characters are not allowed", tn);
        return 0;
    case PPN_LEDGER_ENTRY_VM_ASSIGN:
        if (!vm_name_ok(e->text))
            return why(msg, size, "%s: \"vm\": \"%s\" is not a VM name (1..63 of a-z, 0-9 and '-', "
                       "not starting with '-')", tn, e->text);
        if (all_zero(e->subject, 32))
            return why(msg, size, "%s: \"node\": the node's identity key is missing (all zero)", tn);
        return 0;
    default:
        return why(msg, size, "\"type\": %u is not an entry type", t);
    }
}

int entry_check_meaning(const struct ppn_ledger_entry *e, char *msg, size_t size)
{
    if (msg && size)
        msg[0] = 0;
    const char *tn = ppn_ledger_entry_type_name(e->type);
    if (e->type < PPN_LEDGER_ENTRY_GENESIS || e->type > PPN_LEDGER_ENTRY_SUPERSEDE)
        return why(msg, size, "\"type\": %u is not an entry type (1..7)", e->type);
    if (e->type == PPN_LEDGER_ENTRY_SUPERSEDE) {
        uint32_t rt = e->replacement_type;
        if (rt != 0 && rt != PPN_LEDGER_ENTRY_NODE_JOIN && rt != PPN_LEDGER_ENTRY_CAP_GRANT &&
            rt != PPN_LEDGER_ENTRY_VM_ASSIGN)
            return why(msg, size, "supersede: \"replacement_type\": %u (%s) cannot replace anything "
                       "(none, node-join, cap-grant or vm-assign)", rt, ppn_ledger_entry_type_name(rt));
        if (e->index != 0 && e->target >= e->index)
            return why(msg, size, "supersede: \"target\": %llu is not an earlier entry",
                       (unsigned long long)e->target);
        if (e->target == 0)
            return why(msg, size, "supersede: \"target\": the genesis entry cannot be superseded");
        if (rt == 0)
            return 0;
        return check_body(rt, e, "supersede", msg, size);
    }
    return check_body(e->type, e, tn, msg, size);
}

PPN_EXPORT int ppn_ledger_entry_check(const struct ppn_ledger_entry *entry, char *msg,
                                      size_t msg_size)
{
    if (!entry)
        return -EINVAL;
    int r = entry_check_fields(entry);
    if (r < 0) {
        /* Form: sizes, UTF-8, the fields a type carries; entry_check_meaning says more. */
        int m = entry_check_meaning(entry, msg, msg_size);
        if (m == 0)
            why(msg, msg_size, "%s: a text field is longer than %d bytes or not UTF-8, or "
                "genesis is not self-signed at index 0", ppn_ledger_entry_type_name(entry->type),
                PPN_LEDGER_TEXT_MAX);
        return -EINVAL;
    }
    return entry_check_meaning(entry, msg, msg_size);
}

/* ---- rules that need the ledger, -EPROTO like the others (write time only: entries already written are read as they
 * are, so that no stored ledger becomes unreadable when a rule is added) ---- */
int view_check_write(const struct view *v, const char *mesh_range, const struct ppn_ledger_entry *e,
                     char *msg, size_t size)
{
    uint32_t t = e->type == PPN_LEDGER_ENTRY_SUPERSEDE ? e->replacement_type : e->type;
    if (topology_check_write(v, e, msg, size) < 0) /* topology.c: the routing hub */
        return -EPROTO;
    if (t != PPN_LEDGER_ENTRY_NODE_JOIN)
        return 0;
    uint32_t net, a, b;
    unsigned prefix, ap, bp;
    if (check_range(mesh_range, &net, &prefix, NULL, 0, "mesh") < 0)
        return 0; /* an older ledger whose range this version would refuse: no range rule */
    mesh_address(e->mesh, &a, &ap);
    uint32_t mask = ~0U << (32 - prefix);
    if (ap && ap != prefix) {
        why(msg, size, "%s: \"mesh\": %s has another prefix than the mesh range %s",
            ppn_ledger_entry_type_name(e->type), e->mesh, mesh_range);
        return -EPROTO;
    }
    if ((a & mask) != net || a == net || a == (net | ~mask)) {
        why(msg, size, "%s: \"mesh\": %s is not a host address of the mesh range %s",
            ppn_ledger_entry_type_name(e->type), e->mesh, mesh_range);
        return -EPROTO;
    }
    for (size_t i = 0; i < v->nm; i++)
        if (mesh_address(v->members[i].mesh, &b, &bp) && a == b &&
            !(e->type == PPN_LEDGER_ENTRY_SUPERSEDE && v->members[i].index == e->target))
        {
            why(msg, size, "%s: \"mesh\": %s is already the address of member entry %llu (%s)",
                ppn_ledger_entry_type_name(e->type), e->mesh,
                (unsigned long long)v->members[i].index, v->members[i].hostname);
            return -EPROTO;
        }
    return 0;
}
