/* SPDX-License-Identifier: ISC */
/* libppn-fleet — signed heartbeats, liveness and advisory placement
 *
 * Errors: functions that can fail return int: 0 (or a count) on success and a
 * negative errno on failure; see doc/ERRORS.md and the comment of each
 * function for the codes it documents.  Return parameters come last, are
 * named ret_*, are left untouched on failure and always set on success. */
#ifndef PPN_FLEET_H
#define PPN_FLEET_H

#include <stddef.h>
#include <stdint.h>

#ifndef PPN_EXPORT
#  if defined(PPN_BUILDING_LIBRARY) && defined(__GNUC__)
#    define PPN_EXPORT __attribute__((visibility("default")))
#  else
#    define PPN_EXPORT
#  endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* The package version of the library, e.g. "0.1.0".  Static storage. */
PPN_EXPORT const char *ppn_fleet_version(void);

#ifdef __cplusplus
}
#endif

#endif
