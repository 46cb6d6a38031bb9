/* Internal to libppn-fleet: shared by the codec and the controller, and used
 * by the tests and fuzz harnesses through the static library. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ppn/fleet.h"

/* Name rule of the wire format: 1..63 of [A-Za-z0-9._-]. */
bool fleet_name_valid(const char *s, size_t len);

/* context string || body, at most this long. */
#define FLEET_SIGNED_MAX (32 + PPN_FLEET_MESSAGE_MAX)

/* Decode a heartbeat without verifying the signature.  On success ret_msg
 * (FLEET_SIGNED_MAX bytes) holds the signed bytes (context || body) and
 * ret_sig the signature.  Errors as ppn_fleet_heartbeat_open() minus
 * -EKEYREJECTED. */
int fleet_heartbeat_parse(const void *buf, size_t len, ppn_fleet_heartbeat *ret_hb,
                          uint8_t *ret_msg, size_t *ret_msg_len, uint8_t ret_sig[64]);

int fleet_sodium_init(void);
