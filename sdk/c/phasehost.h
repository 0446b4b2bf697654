/*
 * phasehost.h — Phasehost plugin ABI v1 for C (and C++), wasm32 targets.
 *
 * Declares the host functions a stage plugin imports from the "phasehost"
 * module, their status codes and log levels, and small helpers that take
 * NUL-terminated strings. The ABI itself is described in sdk/ABI.md.
 *
 * A plugin exports memory, run () -> i32 and usually _initialize; build it as
 * a WASI reactor, then embed the manifest as the "phasehost.manifest" custom
 * section (phasectl plugin pack):
 *
 *     clang --target=wasm32-wasi --sysroot=$WASI_SYSROOT -mexec-model=reactor -O2 \
 *           -I sdk/c plugin.c -o plugin.wasm
 *
 *     #include "phasehost.h"
 *     enum { WORK_START, WORK_PROGRESS, WORK_END };  // manifest phase indexes
 *
 *     PHASEHOST_EXPORT("run") int32_t run(void) {
 *         if (phasehost_emit_str(WORK_START, 0, 1, "working") == PHASEHOST_CANCELLED) {
 *             phasehost_fail_str("cancelled");
 *             return 1;
 *         }
 *         ...
 *         phasehost_output_str("{\"ok\":true}");
 *         return 0;
 *     }
 *
 * testdata/modules/c/wordcount.c is a complete example.
 */
#ifndef PHASEHOST_H
#define PHASEHOST_H

#include <stdint.h>

#if !defined(__wasm32__)
#error "phasehost.h is for wasm32 targets (e.g. clang --target=wasm32-wasi)"
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* The ABI version this header describes (the manifest's "abi" field). */
#define PHASEHOST_ABI_VERSION 1

/* Status codes returned by phasehost_emit. */
#define PHASEHOST_OK 0
#define PHASEHOST_CANCELLED 1         /* the job was cancelled: stop, return non-zero */
#define PHASEHOST_UNDECLARED_PHASE -1 /* phase id not in the manifest; nothing published */
#define PHASEHOST_BAD_MESSAGE -2      /* message not UTF-8, over 1024 bytes, or out of bounds */
#define PHASEHOST_EVENT_BUDGET -3     /* limits.max_events spent; nothing published */

/* Status code returned by phasehost_output_write. */
#define PHASEHOST_OUTPUT_LIMIT -1     /* would exceed limits.max_output_bytes; nothing appended */

/* The longest emit message, in bytes. */
#define PHASEHOST_MAX_MESSAGE_BYTES 1024

/* Log levels for phasehost_log. */
#define PHASEHOST_LEVEL_DEBUG 0
#define PHASEHOST_LEVEL_INFO 1
#define PHASEHOST_LEVEL_WARN 2
#define PHASEHOST_LEVEL_ERROR 3

/* PHASEHOST_IMPORT(name) binds a declaration to the host function phasehost.name. */
#define PHASEHOST_IMPORT(name) __attribute__((import_module("phasehost"), import_name(name)))

/* PHASEHOST_EXPORT(name) exports a definition under name, e.g. PHASEHOST_EXPORT("run"). */
#define PHASEHOST_EXPORT(name) __attribute__((export_name(name), visibility("default")))

/* Size in bytes of this run's input (a JSON document). */
PHASEHOST_IMPORT("input_len") int32_t phasehost_input_len(void);

/* Copy the whole input to buf, which must have room for phasehost_input_len() bytes. */
PHASEHOST_IMPORT("input_read") void phasehost_input_read(void *buf);

/* Append len bytes to the run's output (JSON). Returns PHASEHOST_OK or PHASEHOST_OUTPUT_LIMIT. */
PHASEHOST_IMPORT("output_write") int32_t phasehost_output_write(const void *buf, int32_t len);

/*
 * Report progress on the manifest's phase number `phase`: done of total
 * (total 0 = indeterminate), with an optional UTF-8 message of at most 1024
 * bytes (msg may be NULL when len is 0). Returns one of the PHASEHOST_* emit
 * status codes above.
 */
PHASEHOST_IMPORT("emit")
int32_t phasehost_emit(int32_t phase, int64_t done, int64_t total, const char *msg, int32_t len);

/* Write a line to the host log at level (PHASEHOST_LEVEL_*). */
PHASEHOST_IMPORT("log") void phasehost_log(int32_t level, const char *msg, int32_t len);

/* Set the error message of a run that returns non-zero (the last call wins). */
PHASEHOST_IMPORT("fail") void phasehost_fail(const char *msg, int32_t len);

/* 1 once the job was cancelled, else 0. */
PHASEHOST_IMPORT("cancelled") int32_t phasehost_cancelled(void);

/* Helpers taking NUL-terminated strings. */

static inline int32_t phasehost_emit_str(int32_t phase, int64_t done, int64_t total, const char *msg) {
    return phasehost_emit(phase, done, total, msg, msg ? (int32_t)__builtin_strlen(msg) : 0);
}

static inline void phasehost_log_str(int32_t level, const char *msg) {
    phasehost_log(level, msg, (int32_t)__builtin_strlen(msg));
}

static inline void phasehost_fail_str(const char *msg) {
    phasehost_fail(msg, (int32_t)__builtin_strlen(msg));
}

static inline int32_t phasehost_output_str(const char *s) {
    return phasehost_output_write(s, (int32_t)__builtin_strlen(s));
}

#ifdef __cplusplus
}
#endif

#endif /* PHASEHOST_H */
