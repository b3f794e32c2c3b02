/* The peripheral core: capture queues, writes, reads, delegated reads, notify ordering. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <glib.h>

#include "common/error.h"
#include "daemon/config.h"
#include "daemon/peripheral.h"

static const char conf_text[] =
  "[Peripheral]\nName=test\n"
  "[Service s]\nUUID=0x1234\n"
  "[Characteristic s/cmd]\nUUID=0x2001\nFlags=write\nCapture=true\nQueueLength=4\nMaxLength=20\n"
  "[Characteristic s/buf]\nUUID=0x2002\nFlags=read,write\nAppend=true\nMaxLength=8\n"
  "[Characteristic s/val]\nUUID=0x2003\nFlags=read,write,notify\nMaxLength=20\nInitial=0102030405\n"
  "[Characteristic s/slow]\nUUID=0x2004\nFlags=read\nMinReadInterval=10s\n"
  "[Characteristic s/live]\nUUID=0x2005\nFlags=read\nReadHandler=socket\nReadTimeout=50ms\nInitial=aa\n"
  "[Service t]\nUUID=0x1235\n"
  "[Characteristic t/val]\nUUID=0x2003\nFlags=read\n";

typedef struct {
  BpPeripheral *p;
  GPtrArray *notified; /* GBytes* in order */
  GPtrArray *events;   /* char* descriptions */
  guint64 read_id;
  gboolean read_asked;
  GBytes *read_value;
  guint8 read_error;
  gboolean read_done;
} Fixture;

static gboolean
fake_notify (gpointer backend, BpCharacteristic *chr, GBytes *value, const char *to, GError **error)
{
  Fixture *f = backend;
  g_ptr_array_add (f->notified, g_bytes_ref (value));
  return TRUE;
}

static const BpBackend fake_backend = { fake_notify, NULL, NULL };

static void
on_event (const BpEvent *ev, gpointer user_data)
{
  Fixture *f = user_data;
  g_ptr_array_add (f->events, g_strdup_printf ("%d %s %s", ev->type, ev->characteristic ? ev->characteristic->id : "-",
                                               ev->address ? ev->address : "-"));
}

static int
setup (void **state)
{
  g_autoptr (GError) error = NULL;
  Fixture *f = g_new0 (Fixture, 1);
  BpConfig *config = bp_config_load_from_data (conf_text, -1, "test.conf", &error);

  assert_non_null (config);
  f->p = bp_peripheral_new (config);
  f->notified = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  f->events = g_ptr_array_new_with_free_func (g_free);
  bp_peripheral_set_backend (f->p, &fake_backend, f);
  bp_peripheral_add_listener (f->p, on_event, f);
  *state = f;
  return 0;
}

static int
teardown (void **state)
{
  Fixture *f = *state;
  bp_peripheral_free (f->p);
  g_ptr_array_unref (f->notified);
  g_ptr_array_unref (f->events);
  g_clear_pointer (&f->read_value, g_bytes_unref);
  g_free (f);
  return 0;
}

static BpCharacteristic *
lookup (Fixture *f, const char *name)
{
  g_autoptr (GError) error = NULL;
  BpCharacteristic *chr = bp_peripheral_lookup (f->p, name, &error);
  assert_non_null (chr);
  return chr;
}

static void
test_capture_bound_and_drops (void **state)
{
  Fixture *f = *state;
  BpCharacteristic *cmd = lookup (f, "s/cmd");
  GQueue out = G_QUEUE_INIT;
  guint64 dropped;

  for (guint8 i = 0; i < 6; i++)
    assert_int_equal (bp_peripheral_write (f->p, cmd, "00:AA:01:01:00:01", &i, 1, 0), 0);
  assert_int_equal (g_queue_get_length (&cmd->capture), 4);
  dropped = bp_characteristic_capture_drain (cmd, &out);
  assert_int_equal (dropped, 2);
  assert_int_equal (g_queue_get_length (&out), 4);
  /* The oldest were dropped: 2, 3, 4, 5 remain, in order. */
  for (guint8 i = 0; i < 4; i++)
    {
      BpCapturedWrite *w = g_queue_pop_head (&out);
      gsize len;
      const guint8 *d = g_bytes_get_data (w->data, &len);
      assert_int_equal (len, 1);
      assert_int_equal (d[0], i + 2);
      assert_string_equal (w->address, "00:AA:01:01:00:01");
      bp_captured_write_free (w);
    }
  assert_int_equal (bp_characteristic_capture_drain (cmd, &out), 0);
  assert_int_equal (cmd->n_dropped, 2);
}

static void
test_capture_requeue_keeps_order (void **state)
{
  Fixture *f = *state;
  BpCharacteristic *cmd = lookup (f, "s/cmd");
  GQueue out = G_QUEUE_INIT;
  guint8 v;

  for (v = 1; v <= 2; v++)
    bp_peripheral_write (f->p, cmd, NULL, &v, 1, 0);
  bp_characteristic_capture_drain (cmd, &out);
  v = 3;
  bp_peripheral_write (f->p, cmd, NULL, &v, 1, 0);
  /* 1 and 2 never reached a producer: they go back before 3. */
  bp_characteristic_capture_requeue (cmd, &out);
  assert_int_equal (g_queue_get_length (&cmd->capture), 3);
  for (v = 1; v <= 3; v++)
    {
      BpCapturedWrite *w = g_queue_pop_head (&cmd->capture);
      assert_int_equal (((const guint8 *) g_bytes_get_data (w->data, NULL))[0], v);
      bp_captured_write_free (w);
    }
}

static void
test_write_max_length (void **state)
{
  Fixture *f = *state;
  BpCharacteristic *val = lookup (f, "s/val");
  guint8 data[21] = { 0 };
  g_autoptr (GBytes) now = NULL;

  assert_int_equal (bp_peripheral_write (f->p, val, NULL, data, 21, 0), 0x0d);
  now = bp_peripheral_get (f->p, val);
  assert_int_equal (g_bytes_get_size (now), 5); /* unchanged, not truncated */
  assert_int_equal (bp_peripheral_write (f->p, val, NULL, data, 20, 0), 0);
  assert_int_equal (bp_peripheral_write (f->p, val, NULL, data, 2, 19), 0x0d);
  assert_int_equal (bp_peripheral_write (f->p, val, NULL, data, 1, 21), 0x07);
}

static void
test_write_at_offset (void **state)
{
  Fixture *f = *state;
  BpCharacteristic *val = lookup (f, "s/val");
  const guint8 chunk[] = { 0xee, 0xff };
  const guint8 want[] = { 0x01, 0x02, 0xee, 0xff };
  g_autoptr (GBytes) now = NULL;

  assert_int_equal (bp_peripheral_write (f->p, val, NULL, chunk, 2, 2), 0);
  now = bp_peripheral_get (f->p, val);
  assert_int_equal (g_bytes_get_size (now), 4);
  assert_memory_equal (g_bytes_get_data (now, NULL), want, 4);
}

static void
test_append_and_take (void **state)
{
  Fixture *f = *state;
  BpCharacteristic *buf = lookup (f, "s/buf");
  const guint8 a[] = { 1, 2, 3 }, b[] = { 4, 5, 6 }, c[] = { 7, 8, 9 };
  g_autoptr (GBytes) taken = NULL;
  g_autoptr (GBytes) after = NULL;

  assert_int_equal (bp_peripheral_write (f->p, buf, NULL, a, 3, 0), 0);
  assert_int_equal (bp_peripheral_write (f->p, buf, NULL, b, 3, 0), 0);
  /* 9 bytes would overflow MaxLength=8: refused, nothing appended. */
  assert_int_equal (bp_peripheral_write (f->p, buf, NULL, c, 3, 0), 0x0d);
  taken = bp_peripheral_take (f->p, buf);
  assert_int_equal (g_bytes_get_size (taken), 6);
  after = bp_peripheral_get (f->p, buf);
  assert_int_equal (g_bytes_get_size (after), 0);
}

static void
read_cb (GBytes *value, guint8 att, gpointer user_data)
{
  Fixture *f = user_data;
  g_clear_pointer (&f->read_value, g_bytes_unref);
  f->read_value = value ? g_bytes_ref (value) : NULL;
  f->read_error = att;
  f->read_done = TRUE;
}

static void
test_min_read_interval (void **state)
{
  Fixture *f = *state;
  BpCharacteristic *slow = lookup (f, "s/slow");

  bp_peripheral_read (f->p, slow, NULL, 0, read_cb, f);
  assert_true (f->read_done);
  assert_non_null (f->read_value);
  f->read_done = FALSE;
  bp_peripheral_read (f->p, slow, NULL, 0, read_cb, f);
  assert_true (f->read_done);
  assert_null (f->read_value);
  assert_int_equal (f->read_error, 0x02);
  /* A blob read continues a long read: never refused. */
  f->read_done = FALSE;
  bp_peripheral_read (f->p, slow, NULL, 5, read_cb, f);
  assert_non_null (f->read_value);
}

static void
server_request (gpointer server, guint64 id, BpCharacteristic *chr, const char *addr, guint offset)
{
  Fixture *f = server;
  f->read_id = id;
  f->read_asked = TRUE;
}

static const BpReadServerClass server_class = { server_request };

static void
test_delegated_read (void **state)
{
  Fixture *f = *state;
  BpCharacteristic *live = lookup (f, "s/live");
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) answer = g_bytes_new ("\x10\x20", 2);

  /* With no server the stored value is served at once. */
  bp_peripheral_read (f->p, live, NULL, 0, read_cb, f);
  assert_true (f->read_done);
  assert_int_equal (g_bytes_get_size (f->read_value), 1);

  assert_true (bp_peripheral_serve (f->p, live, &server_class, f, &error));
  f->read_done = FALSE;
  bp_peripheral_read (f->p, live, "00:AA:01:01:00:01", 0, read_cb, f);
  assert_true (f->read_asked);
  assert_false (f->read_done);
  /* Another connection cannot answer it. */
  assert_false (bp_peripheral_reply (f->p, (gpointer) 0x1, f->read_id, answer, 0, &error));
  assert_true (g_error_matches (error, BP_ERROR, BP_ERROR_UNKNOWN_READ));
  g_clear_error (&error);
  assert_true (bp_peripheral_reply (f->p, f, f->read_id, answer, 0, &error));
  assert_true (f->read_done);
  assert_int_equal (g_bytes_get_size (f->read_value), 2);
  /* The answer is now the stored value. */
  {
    g_autoptr (GBytes) now = bp_peripheral_get (f->p, live);
    assert_int_equal (g_bytes_get_size (now), 2);
  }
  /* Answered twice: refused. */
  assert_false (bp_peripheral_reply (f->p, f, f->read_id, answer, 0, &error));
  g_clear_error (&error);

  /* An error answer. */
  f->read_done = FALSE;
  bp_peripheral_read (f->p, live, NULL, 0, read_cb, f);
  assert_false (bp_peripheral_reply (f->p, f, f->read_id, NULL, 0x40, &error));
  g_clear_error (&error);
  assert_true (bp_peripheral_reply (f->p, f, f->read_id, NULL, 0x80, &error));
  assert_null (f->read_value);
  assert_int_equal (f->read_error, 0x80);

  /* Timeout: the stored value is served. */
  f->read_done = FALSE;
  bp_peripheral_read (f->p, live, NULL, 0, read_cb, f);
  {
    gint64 deadline = g_get_monotonic_time () + 2 * G_USEC_PER_SEC;
    while (!f->read_done && g_get_monotonic_time () < deadline)
      g_main_context_iteration (NULL, TRUE);
  }
  assert_true (f->read_done);
  assert_int_equal (g_bytes_get_size (f->read_value), 2);
  assert_false (bp_peripheral_reply (f->p, f, f->read_id, answer, 0, &error));
  g_clear_error (&error);

  /* The server leaves while a read waits: the stored value is served. */
  f->read_done = FALSE;
  bp_peripheral_read (f->p, live, NULL, 0, read_cb, f);
  assert_false (f->read_done);
  bp_peripheral_unserve_all (f->p, f);
  assert_true (f->read_done);
  assert_non_null (f->read_value);
}

static void
test_notify_order_and_refusals (void **state)
{
  Fixture *f = *state;
  BpCharacteristic *val = lookup (f, "s/val");
  BpCharacteristic *cmd = lookup (f, "s/cmd");
  g_autoptr (GError) error = NULL;
  guint8 big[513] = { 0 };
  g_autoptr (GBytes) too_big = g_bytes_new (big, sizeof big);

  for (guint32 i = 0; i < 100; i++)
    {
      g_autoptr (GBytes) v = g_bytes_new (&i, sizeof i);
      assert_true (bp_peripheral_notify (f->p, val, v, NULL, &error));
    }
  assert_int_equal (f->notified->len, 100);
  for (guint32 i = 0; i < 100; i++)
    assert_memory_equal (g_bytes_get_data (g_ptr_array_index (f->notified, i), NULL), &i, 4);
  assert_false (bp_peripheral_notify (f->p, cmd, too_big, NULL, &error));
  assert_true (g_error_matches (error, BP_ERROR, BP_ERROR_NOT_PERMITTED));
  g_clear_error (&error);
  assert_false (bp_peripheral_notify (f->p, val, too_big, NULL, &error));
  assert_true (g_error_matches (error, BP_ERROR, BP_ERROR_TOO_LONG));
  assert_int_equal (f->notified->len, 100);
}

static void
test_lookup (void **state)
{
  Fixture *f = *state;
  g_autoptr (GError) error = NULL;

  assert_non_null (bp_peripheral_lookup (f->p, "cmd", &error));
  assert_null (bp_peripheral_lookup (f->p, "val", &error));
  assert_true (g_error_matches (error, BP_ERROR, BP_ERROR_AMBIGUOUS));
  g_clear_error (&error);
  assert_null (bp_peripheral_lookup (f->p, "s/nope", &error));
  assert_true (g_error_matches (error, BP_ERROR, BP_ERROR_UNKNOWN_CHARACTERISTIC));
}

static void
test_reload_keeps_values (void **state)
{
  Fixture *f = *state;
  g_autoptr (GError) error = NULL;
  BpCharacteristic *val = lookup (f, "s/val");
  g_autoptr (GBytes) v = g_bytes_new ("\x42", 1);
  BpConfig *config;

  assert_true (bp_peripheral_set (f->p, val, v, &error));
  config = bp_config_load_from_data (conf_text, -1, "test.conf", &error);
  assert_non_null (config);
  bp_peripheral_reconfigure (f->p, config);
  val = lookup (f, "s/val");
  {
    g_autoptr (GBytes) now = bp_peripheral_get (f->p, val);
    assert_int_equal (g_bytes_get_size (now), 1);
    assert_int_equal (((const guint8 *) g_bytes_get_data (now, NULL))[0], 0x42);
  }
}

static void
test_centrals (void **state)
{
  Fixture *f = *state;

  bp_peripheral_central_connected (f->p, "00:AA:01:01:00:01", 23);
  bp_peripheral_central_connected (f->p, "00:AA:01:01:00:01", 23);
  bp_peripheral_central_connected (f->p, "00:AA:01:01:00:02", 517);
  assert_int_equal (bp_peripheral_get_centrals (f->p)->len, 2);
  assert_int_equal (bp_peripheral_min_mtu (f->p), 23);
  bp_peripheral_central_disconnected (f->p, "00:aa:01:01:00:01");
  assert_int_equal (bp_peripheral_get_centrals (f->p)->len, 1);
  assert_int_equal (f->events->len, 3);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_capture_bound_and_drops, setup, teardown),
    cmocka_unit_test_setup_teardown (test_capture_requeue_keeps_order, setup, teardown),
    cmocka_unit_test_setup_teardown (test_write_max_length, setup, teardown),
    cmocka_unit_test_setup_teardown (test_write_at_offset, setup, teardown),
    cmocka_unit_test_setup_teardown (test_append_and_take, setup, teardown),
    cmocka_unit_test_setup_teardown (test_min_read_interval, setup, teardown),
    cmocka_unit_test_setup_teardown (test_delegated_read, setup, teardown),
    cmocka_unit_test_setup_teardown (test_notify_order_and_refusals, setup, teardown),
    cmocka_unit_test_setup_teardown (test_lookup, setup, teardown),
    cmocka_unit_test_setup_teardown (test_reload_keeps_values, setup, teardown),
    cmocka_unit_test_setup_teardown (test_centrals, setup, teardown),
  };
  return cmocka_run_group_tests_name ("peripheral", tests, NULL, NULL);
}
