/* Logging: structured records to the journal when stderr is the journal,
 * plain lines on stderr otherwise.
 *
 * Every g_debug/g_info/g_message/g_warning goes through one writer. The
 * bp_log_characteristic/device/adapter helpers add a field naming what the
 * record is about, so that `journalctl BLE_CHARACTERISTIC=env/temperature`
 * (or BLE_DEVICE=ADDR, BLE_ADAPTER=hci0) finds every line about it. On a
 * plain stderr the field is not printed: the message names its subject. */
#pragma once

#include <glib.h>
#include <stdio.h>

G_BEGIN_DECLS

/* verbose: also g_info and g_debug records (G_MESSAGES_DEBUG set does the
 * same). Decides once whether stderr is the journal (JOURNAL_STREAM). */
void bp_log_init (gboolean verbose);

/* One record with an extra journal field KEY=VALUE (VALUE may be NULL: no
 * field). Use the macros below, which pass the caller's G_LOG_DOMAIN and
 * code location. */
void bp_log_with_field (const char *domain, GLogLevelFlags level, const char *key, const char *value, const char *file,
                        const char *line, const char *func, const char *format, ...) G_GNUC_PRINTF (8, 9);

#define BP_LOG_FIELD_CHARACTERISTIC "BLE_CHARACTERISTIC"
#define BP_LOG_FIELD_DEVICE "BLE_DEVICE"
#define BP_LOG_FIELD_ADAPTER "BLE_ADAPTER"

/* chr_id: "SERVICE/CHAR" as in the configuration. */
#define bp_log_characteristic(level, chr_id, ...)                                            \
  bp_log_with_field (G_LOG_DOMAIN, (level), BP_LOG_FIELD_CHARACTERISTIC, (chr_id), __FILE__, \
                     G_STRINGIFY (__LINE__), G_STRFUNC, __VA_ARGS__)
/* address: the central's address, AA:BB:CC:DD:EE:FF. */
#define bp_log_device(level, address, ...)                                            \
  bp_log_with_field (G_LOG_DOMAIN, (level), BP_LOG_FIELD_DEVICE, (address), __FILE__, \
                     G_STRINGIFY (__LINE__), G_STRFUNC, __VA_ARGS__)
/* adapter: hciN. */
#define bp_log_adapter(level, adapter, ...)                                            \
  bp_log_with_field (G_LOG_DOMAIN, (level), BP_LOG_FIELD_ADAPTER, (adapter), __FILE__, \
                     G_STRINGIFY (__LINE__), G_STRFUNC, __VA_ARGS__)

/* For tests: treat stderr as the journal (journal_writer != NULL) and hand
 * every journal record to journal_writer instead of journald; plain lines go
 * to stream instead of stderr (NULL: stderr). Call after bp_log_init. */
void bp_log_set_test_sinks (GLogWriterFunc journal_writer, gpointer user_data, FILE *stream);

G_END_DECLS
