/* Shared by fleet.c (the operator's commands) and fleet-services.c (agent and
 * controller): the wire defaults and small parsers. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define FLEET_DEFAULT_PORT "51900"       /* the controller's heartbeats */
#define FLEET_DEFAULT_AGENT_PORT 51901   /* an agent's creation requests */
#define FLEET_DEFAULT_SOCKET "/run/ppn/fleet.sock"
#define FLEET_QUERY_MAX (64 * 1024)

/* "host:port", "[v6]:port" or "host" (default_port) into an address. */
int fleet_parse_endpoint(const char *s, const char *default_port, struct sockaddr_storage *ret,
                         socklen_t *ret_len);
void fleet_format_addr(const struct sockaddr_storage *a, socklen_t len, char *out, size_t size);
void fleet_hex_encode(const uint8_t *in, size_t n, char *out);
/* Returns the byte count or -EBADMSG. */
int fleet_hex_decode(const char *in, uint8_t *out, size_t max);
