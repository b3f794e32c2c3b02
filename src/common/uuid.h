/* Bluetooth UUIDs: 16-, 32- and 128-bit forms and a few SIG names. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Textual 128-bit form, lower case, 36 characters plus NUL. */
#define BP_UUID_STRLEN 37

typedef struct {
  guint8 bytes[16]; /* big-endian, as written: 0000180a-0000-1000-8000-00805f9b34fb */
} BpUuid;

/* Parses "0x180A", "180A", "0x0000180A"/"12345678" (32-bit), a full 128-bit
 * UUID, or a SIG name such as "environmental_sensing" or "temperature".
 * The error says what was expected. */
gboolean bp_uuid_parse (const char *text, BpUuid *out, GError **error);

/* "0000180a-0000-1000-8000-00805f9b34fb" into buf (BP_UUID_STRLEN bytes). */
void bp_uuid_to_string (const BpUuid *uuid, char *buf);

/* 2, 4 or 16: the shortest form in which the UUID travels in advertising data. */
gsize bp_uuid_short_size (const BpUuid *uuid);

/* The 16-bit value when bp_uuid_short_size() is 2, else 0 (and FALSE). */
gboolean bp_uuid_to_u16 (const BpUuid *uuid, guint16 *out);

void bp_uuid_from_u16 (guint16 value, BpUuid *out);

gboolean bp_uuid_equal (const BpUuid *a, const BpUuid *b);

G_END_DECLS
