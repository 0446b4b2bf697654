/*
 * wordcount: a small real Phasehost stage plugin in C.
 *
 * Reads its input document and counts its bytes, lines ('\n') and words
 * (runs of non-whitespace), and computes its CRC-32 (IEEE), reporting progress
 * over the phases declared in wordcount.manifest.json:
 *
 *   0 WC_SCAN_START     step scan    START
 *   1 WC_SCAN_PROGRESS  step scan    PROGRESS  (done/total in bytes, at most ~64 events)
 *   2 WC_SCAN_END       step scan    END
 *   3 WC_REPORT         step report  PROGRESS  (the output is being written)
 *
 * Output: {"bytes":N,"lines":N,"words":N,"crc32":"xxxxxxxx"}
 *
 * The CRC table is built by a constructor, which the reactor's _initialize
 * runs once before run. On cancellation it calls fail("cancelled") and returns 1.
 * Build: see ../build.sh.
 */
#include <stdint.h>
#include <stdlib.h>

#include "phasehost.h"

enum { WC_SCAN_START, WC_SCAN_PROGRESS, WC_SCAN_END, WC_REPORT };

static uint32_t crc_table[256];

__attribute__((constructor)) static void init_crc_table(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

/* emit, treating a spent event budget as "stop reporting progress". Returns 1
 * when the job was cancelled, else 0. */
static int quiet;

static int report(int32_t phase, int64_t done, int64_t total, const char *msg) {
    if (quiet)
        return phasehost_cancelled() == 1;
    switch (phasehost_emit_str(phase, done, total, msg)) {
    case PHASEHOST_OK:
        return 0;
    case PHASEHOST_CANCELLED:
        return 1;
    case PHASEHOST_EVENT_BUDGET:
        quiet = 1;
        phasehost_log_str(PHASEHOST_LEVEL_WARN, "wordcount: event budget spent, no more progress");
        return 0;
    default:
        phasehost_log_str(PHASEHOST_LEVEL_WARN, "wordcount: emit refused an event");
        return 0;
    }
}

static int32_t cancelled(void) {
    phasehost_fail_str("cancelled");
    return 1;
}

/* A tiny append-only text buffer for the output JSON. */
struct buf {
    char data[160];
    int len;
};

static void put_str(struct buf *b, const char *s) {
    while (*s && b->len < (int)sizeof b->data)
        b->data[b->len++] = *s++;
}

static void put_u64(struct buf *b, uint64_t v) {
    char digits[20];
    int n = 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n && b->len < (int)sizeof b->data)
        b->data[b->len++] = digits[--n];
}

static void put_hex32(struct buf *b, uint32_t v) {
    static const char hex[] = "0123456789abcdef";
    for (int shift = 28; shift >= 0; shift -= 4)
        if (b->len < (int)sizeof b->data)
            b->data[b->len++] = hex[(v >> shift) & 0xF];
}

static int is_space(unsigned char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

PHASEHOST_EXPORT("run") int32_t run(void) {
    int32_t n = phasehost_input_len();
    unsigned char *in = malloc(n > 0 ? (size_t)n : 1);
    if (!in) {
        phasehost_fail_str("wordcount: out of memory for the input");
        return 1;
    }
    if (n > 0)
        phasehost_input_read(in);

    if (report(WC_SCAN_START, 0, n, "scanning input"))
        return cancelled();

    /* At most ~64 progress events, whatever the input size. */
    int32_t chunk = (n + 63) / 64;
    if (chunk < 4096)
        chunk = 4096;

    uint64_t lines = 0, words = 0;
    uint32_t crc = 0xFFFFFFFFu;
    int in_word = 0;
    for (int32_t start = 0; start < n; start += chunk) {
        int32_t end = n - start < chunk ? n : start + chunk;
        for (int32_t i = start; i < end; i++) {
            unsigned char c = in[i];
            crc = crc_table[(crc ^ c) & 0xFF] ^ (crc >> 8);
            if (c == '\n')
                lines++;
            if (is_space(c)) {
                in_word = 0;
            } else if (!in_word) {
                in_word = 1;
                words++;
            }
        }
        if (report(WC_SCAN_PROGRESS, end, n, "bytes scanned"))
            return cancelled();
    }
    crc ^= 0xFFFFFFFFu;
    free(in);

    if (report(WC_SCAN_END, n, n, "input scanned"))
        return cancelled();
    if (report(WC_REPORT, 0, 0, "writing counts"))
        return cancelled();

    struct buf out = {.len = 0};
    put_str(&out, "{\"bytes\":");
    put_u64(&out, (uint64_t)n);
    put_str(&out, ",\"lines\":");
    put_u64(&out, lines);
    put_str(&out, ",\"words\":");
    put_u64(&out, words);
    put_str(&out, ",\"crc32\":\"");
    put_hex32(&out, crc);
    put_str(&out, "\"}");
    if (phasehost_output_write(out.data, out.len) != PHASEHOST_OK) {
        phasehost_fail_str("wordcount: output over max_output_bytes");
        return 1;
    }
    phasehost_log_str(PHASEHOST_LEVEL_INFO, "wordcount: done");
    return 0;
}
