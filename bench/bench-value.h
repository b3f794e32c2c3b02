/* The values the benchmark's emitters send, and how the receiver checks
 * them. Every emitter (the daemon's producer, the C limit program, the
 * Python reference) writes the same bytes, so that the stand-in can tell
 * that it got all of them, unchanged and in order, and how long each took:
 *
 *   bytes 0-7    sequence number, 0, 1, … (little-endian)
 *   bytes 8-15   CLOCK_MONOTONIC time in ns when the emitter sent it
 *   bytes 16-    filler: byte i is (sequence + i) & 0xff
 *
 * Values are at least BENCH_VALUE_MIN bytes. */
#pragma once

#include <stdint.h>
#include <string.h>
#include <time.h>

#define BENCH_VALUE_MIN 16
#define BENCH_VALUE_MAX 512

static inline uint64_t
bench_now_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

static inline void
bench_put_u64 (uint8_t *p, uint64_t v)
{
  for (int i = 0; i < 8; i++)
    p[i] = (uint8_t) (v >> (8 * i));
}

static inline uint64_t
bench_get_u64 (const uint8_t *p)
{
  uint64_t v = 0;

  for (int i = 7; i >= 0; i--)
    v = (v << 8) | p[i];
  return v;
}

/* Fills value[0..size) for sequence number seq, sent at sent_ns. */
static inline void
bench_value_fill (uint8_t *value, size_t size, uint64_t seq, uint64_t sent_ns)
{
  bench_put_u64 (value, seq);
  bench_put_u64 (value + 8, sent_ns);
  for (size_t i = BENCH_VALUE_MIN; i < size; i++)
    value[i] = (uint8_t) (seq + i);
}

/* TRUE when value is a well-formed benchmark value of that size. */
static inline int
bench_value_check (const uint8_t *value, size_t len, size_t size, uint64_t *seq, uint64_t *sent_ns)
{
  if (len != size || len < BENCH_VALUE_MIN)
    return 0;
  *seq = bench_get_u64 (value);
  *sent_ns = bench_get_u64 (value + 8);
  for (size_t i = BENCH_VALUE_MIN; i < len; i++)
    if (value[i] != (uint8_t) (*seq + i))
      return 0;
  return 1;
}

/* Lower-case hex of value into out (2 * len bytes, no terminator);
 * returns the number of characters written. */
static inline size_t
bench_hex (char *out, const uint8_t *value, size_t len)
{
  static const char digits[] = "0123456789abcdef";

  for (size_t i = 0; i < len; i++)
    {
      out[2 * i] = digits[value[i] >> 4];
      out[2 * i + 1] = digits[value[i] & 0xf];
    }
  return 2 * len;
}
