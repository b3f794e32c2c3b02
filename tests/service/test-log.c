/* The log writer (src/daemon/log.c): what it would send to the journal
 * (every field, with BLE_CHARACTERISTIC/BLE_DEVICE/BLE_ADAPTER from the
 * helpers) and the plain lines it prints otherwise; --verbose. */
#define G_LOG_DOMAIN "test-log"

#include "build-config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "daemon/log.h"

typedef struct {
  GPtrArray *records;      /* GHashTable key → value, one per record */
  GPtrArray *levels;       /* GLogLevelFlags, as pointers */
  GLogWriterOutput answer; /* what the fake journal returns */
  FILE *plain;             /* the plain lines */
} Capture;

static GLogWriterOutput
fake_journal (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
  Capture *cap = user_data;
  GHashTable *record = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);

  for (gsize i = 0; i < n_fields; i++)
    {
      gssize len = fields[i].length < 0 ? (gssize) strlen (fields[i].value) : fields[i].length;
      g_hash_table_insert (record, g_strdup (fields[i].key), g_strndup (fields[i].value, len));
    }
  g_ptr_array_add (cap->records, record);
  g_ptr_array_add (cap->levels, GUINT_TO_POINTER (level));
  return cap->answer;
}

static const char *
get (Capture *cap, guint i, const char *key)
{
  assert_true (i < cap->records->len);
  return g_hash_table_lookup (g_ptr_array_index (cap->records, i), key);
}

static char *
plain_text (Capture *cap)
{
  long n;
  char *text;

  fflush (cap->plain);
  n = ftell (cap->plain);
  assert_true (n >= 0);
  text = g_malloc0 ((gsize) n + 1);
  rewind (cap->plain);
  assert_int_equal (fread (text, 1, (size_t) n, cap->plain), (size_t) n);
  return text;
}

static Capture *
capture_new (gboolean verbose, gboolean journal)
{
  Capture *cap = g_new0 (Capture, 1);

  cap->records = g_ptr_array_new_with_free_func ((GDestroyNotify) g_hash_table_unref);
  cap->levels = g_ptr_array_new ();
  cap->answer = G_LOG_WRITER_HANDLED;
  cap->plain = tmpfile ();
  assert_non_null (cap->plain);
  bp_log_init (verbose);
  bp_log_set_test_sinks (journal ? fake_journal : NULL, cap, cap->plain);
  return cap;
}

static int
setup_journal (void **state)
{
  *state = capture_new (FALSE, TRUE);
  return 0;
}

static int
setup_journal_verbose (void **state)
{
  *state = capture_new (TRUE, TRUE);
  return 0;
}

static int
setup_plain (void **state)
{
  *state = capture_new (FALSE, FALSE);
  return 0;
}

static int
setup_plain_verbose (void **state)
{
  *state = capture_new (TRUE, FALSE);
  return 0;
}

static int
teardown (void **state)
{
  Capture *cap = *state;

  bp_log_set_test_sinks (NULL, NULL, NULL);
  g_ptr_array_unref (cap->records);
  g_ptr_array_unref (cap->levels);
  fclose (cap->plain);
  g_free (cap);
  return 0;
}

/* The helpers: MESSAGE, PRIORITY, GLIB_DOMAIN, CODE_* and the subject's field. */
static void
test_journal_fields (void **state)
{
  Capture *cap = *state;
  g_autofree char *plain = NULL;

  bp_log_characteristic (G_LOG_LEVEL_MESSAGE, "env/temperature", "notify of %d bytes", 2);
  bp_log_device (G_LOG_LEVEL_WARNING, "00:AA:01:01:00:01", "central %s went away", "00:AA:01:01:00:01");
  bp_log_adapter (G_LOG_LEVEL_MESSAGE, "hci0", "using adapter %s", "hci0");

  assert_int_equal (cap->records->len, 3);
  assert_string_equal (get (cap, 0, "MESSAGE"), "notify of 2 bytes");
  assert_string_equal (get (cap, 0, "PRIORITY"), "5");
  assert_string_equal (get (cap, 0, "GLIB_DOMAIN"), "test-log");
  assert_string_equal (get (cap, 0, "BLE_CHARACTERISTIC"), "env/temperature");
  assert_null (get (cap, 0, "BLE_DEVICE"));
  assert_true (g_str_has_suffix (get (cap, 0, "CODE_FILE"), "test-log.c"));
  assert_true (atoi (get (cap, 0, "CODE_LINE")) > 0);
  assert_string_equal (get (cap, 0, "CODE_FUNC"), "test_journal_fields");
  assert_int_equal (GPOINTER_TO_UINT (g_ptr_array_index (cap->levels, 0)) & G_LOG_LEVEL_MASK, G_LOG_LEVEL_MESSAGE);

  assert_string_equal (get (cap, 1, "MESSAGE"), "central 00:AA:01:01:00:01 went away");
  assert_string_equal (get (cap, 1, "PRIORITY"), "4");
  assert_string_equal (get (cap, 1, "BLE_DEVICE"), "00:AA:01:01:00:01");
  assert_null (get (cap, 1, "BLE_CHARACTERISTIC"));

  assert_string_equal (get (cap, 2, "BLE_ADAPTER"), "hci0");
  assert_string_equal (get (cap, 2, "PRIORITY"), "5");

  /* Handled by the journal: nothing on stderr. */
  plain = plain_text (cap);
  assert_string_equal (plain, "");
}

/* No subject (NULL): no field, the record all the same. */
static void
test_journal_null_subject (void **state)
{
  Capture *cap = *state;

  bp_log_adapter (G_LOG_LEVEL_MESSAGE, NULL, "no adapter yet");
  assert_int_equal (cap->records->len, 1);
  assert_string_equal (get (cap, 0, "MESSAGE"), "no adapter yet");
  assert_null (get (cap, 0, "BLE_ADAPTER"));
}

/* Plain g_message/g_warning reach the journal with their domain and priority. */
static void
test_journal_plain_api (void **state)
{
  Capture *cap = *state;

  g_message ("hello %s", "journal");
  g_warning ("careful");
  assert_int_equal (cap->records->len, 2);
  assert_string_equal (get (cap, 0, "MESSAGE"), "hello journal");
  assert_string_equal (get (cap, 0, "GLIB_DOMAIN"), "test-log");
  assert_string_equal (get (cap, 0, "PRIORITY"), "5");
  assert_string_equal (get (cap, 1, "PRIORITY"), "4");
}

/* Without --verbose, g_info/g_debug and the helpers' info/debug are dropped. */
static void
test_journal_quiet (void **state)
{
  Capture *cap = *state;

  g_info ("info");
  g_debug ("debug");
  bp_log_characteristic (G_LOG_LEVEL_DEBUG, "env/temperature", "debug");
  bp_log_device (G_LOG_LEVEL_INFO, "00:AA:01:01:00:01", "info");
  assert_int_equal (cap->records->len, 0);
}

static void
test_journal_verbose (void **state)
{
  Capture *cap = *state;

  g_debug ("debug %d", 1);
  bp_log_characteristic (G_LOG_LEVEL_INFO, "env/humidity", "info %d", 2);
  bp_log_device (G_LOG_LEVEL_DEBUG, "00:AA:01:01:00:02", "debug %d", 3);
  assert_int_equal (cap->records->len, 3);
  assert_string_equal (get (cap, 0, "MESSAGE"), "debug 1");
  assert_string_equal (get (cap, 1, "PRIORITY"), "6");
  assert_string_equal (get (cap, 1, "BLE_CHARACTERISTIC"), "env/humidity");
  assert_string_equal (get (cap, 2, "PRIORITY"), "7");
}

/* A journal that cannot take the record: the line goes to stderr instead. */
static void
test_journal_fallback (void **state)
{
  Capture *cap = *state;
  g_autofree char *plain = NULL;

  cap->answer = G_LOG_WRITER_UNHANDLED;
  bp_log_characteristic (G_LOG_LEVEL_WARNING, "env/temperature", "lost journal");
  plain = plain_text (cap);
  assert_string_equal (plain, "ble-peripheral[test-log]: warning: lost journal\n");
}

/* stderr is not the journal: one plain line per record, no fields. */
static void
test_plain_lines (void **state)
{
  Capture *cap = *state;
  g_autofree char *plain = NULL;

  bp_log_characteristic (G_LOG_LEVEL_MESSAGE, "env/temperature", "value %s", "24.58");
  bp_log_device (G_LOG_LEVEL_WARNING, "00:AA:01:01:00:01", "central gone");
  g_message ("plain");
  g_info ("not shown");
  g_debug ("not shown");
  bp_log_adapter (G_LOG_LEVEL_DEBUG, "hci0", "not shown");
  assert_int_equal (cap->records->len, 0);
  plain = plain_text (cap);
  assert_string_equal (plain,
                       "ble-peripheral[test-log]: value 24.58\n"
                       "ble-peripheral[test-log]: warning: central gone\n"
                       "ble-peripheral[test-log]: plain\n");
}

static void
test_plain_verbose (void **state)
{
  Capture *cap = *state;
  g_autofree char *plain = NULL;

  g_info ("an info");
  g_debug ("a debug");
  bp_log_adapter (G_LOG_LEVEL_DEBUG, "hci0", "adapter debug");
  plain = plain_text (cap);
  assert_string_equal (plain,
                       "ble-peripheral[test-log]: an info\n"
                       "ble-peripheral[test-log]: debug: a debug\n"
                       "ble-peripheral[test-log]: debug: adapter debug\n");
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_journal_fields, setup_journal, teardown),
    cmocka_unit_test_setup_teardown (test_journal_null_subject, setup_journal, teardown),
    cmocka_unit_test_setup_teardown (test_journal_plain_api, setup_journal, teardown),
    cmocka_unit_test_setup_teardown (test_journal_quiet, setup_journal, teardown),
    cmocka_unit_test_setup_teardown (test_journal_verbose, setup_journal_verbose, teardown),
    cmocka_unit_test_setup_teardown (test_journal_fallback, setup_journal, teardown),
    cmocka_unit_test_setup_teardown (test_plain_lines, setup_plain, teardown),
    cmocka_unit_test_setup_teardown (test_plain_verbose, setup_plain_verbose, teardown),
  };

  /* The environment must not switch --verbose on behind the tests' back. */
  g_unsetenv ("G_MESSAGES_DEBUG");
  return cmocka_run_group_tests (tests, NULL, NULL);
}
