/* The handoff file (see handoff.h). A key file:
 *
 *   [Handoff]
 *   Version=1
 *   [Characteristic env/temp]
 *   Value=6608
 *   Captured=00:AA:01:01:00:01 0 0102;- 4 ff;
 *
 * Captured writes, oldest first: the central's address ("-" when unknown),
 * the offset and the bytes in hex. */
#define G_LOG_DOMAIN "handoff"

#include "build-config.h"

#include "daemon/handoff.h"

#include <errno.h>
#include <glib/gstdio.h>

#include "common/error.h"
#include "common/value.h"

#define CHAR_GROUP_PREFIX "Characteristic "

char *
bp_handoff_path (const char *socket_path)
{
  return g_strconcat (socket_path, ".handoff", NULL);
}

gboolean
bp_handoff_save (BpPeripheral *p, const char *path, guint *n_values, guint *n_writes, GError **error)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autofree char *data = NULL;
  GPtrArray *chars = bp_peripheral_get_characteristics (p);
  gsize len = 0;

  *n_values = *n_writes = 0;
  g_key_file_set_integer (kf, "Handoff", "Version", 1);
  for (guint i = 0; i < chars->len; i++)
    {
      BpCharacteristic *chr = g_ptr_array_index (chars, i);
      g_autofree char *group = g_strconcat (CHAR_GROUP_PREFIX, chr->id, NULL);
      g_autofree char *hex = bp_value_to_hex (chr->value->data, chr->value->len);
      g_autoptr (GPtrArray) writes = g_ptr_array_new_with_free_func (g_free);

      g_key_file_set_string (kf, group, "Value", hex);
      (*n_values)++;
      for (GList *l = chr->capture.head; l != NULL; l = l->next)
        {
          BpCapturedWrite *w = l->data;
          gsize wlen = 0;
          const guint8 *wdata = g_bytes_get_data (w->data, &wlen);
          g_autofree char *whex = bp_value_to_hex (wdata, wlen);

          g_ptr_array_add (writes, g_strdup_printf ("%s %u %s", w->address ? w->address : "-", w->offset, whex));
        }
      if (writes->len > 0)
        {
          g_key_file_set_string_list (kf, group, "Captured", (const char *const *) writes->pdata, writes->len);
          *n_writes += writes->len;
        }
    }
  data = g_key_file_to_data (kf, &len, NULL);
  if (!g_file_set_contents_full (path, data, len, G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE, 0600,
                                 error))
    {
      g_prefix_error (error, "saving the handoff file: ");
      return FALSE;
    }
  return TRUE;
}

static BpCapturedWrite *
parse_write (const char *text)
{
  g_auto (GStrv) words = g_strsplit (text, " ", 3);
  g_autoptr (GBytes) data = NULL;
  BpCapturedWrite *w;
  guint64 offset;

  if (g_strv_length (words) != 3 || !g_ascii_string_to_unsigned (words[1], 10, 0, G_MAXUINT16, &offset, NULL))
    return NULL;
  data = bp_value_parse (words[2], BP_FORMAT_NONE, 0, NULL);
  if (data == NULL)
    return NULL;
  w = g_new0 (BpCapturedWrite, 1);
  w->address = g_str_equal (words[0], "-") ? NULL : g_strdup (words[0]);
  w->data = g_steal_pointer (&data);
  w->offset = (guint) offset;
  return w;
}

static void
restore_characteristic (BpPeripheral *p, GKeyFile *kf, const char *group, guint *n_values, guint *n_writes)
{
  const char *id = group + strlen (CHAR_GROUP_PREFIX);
  BpCharacteristic *chr = bp_peripheral_lookup (p, id, NULL);
  g_autofree char *hex = NULL;
  g_auto (GStrv) writes = NULL;
  GQueue queue = G_QUEUE_INIT;

  if (chr == NULL)
    {
      g_warning ("handoff: %s is no longer in the configuration; its value and captured writes are left out", id);
      return;
    }
  hex = g_key_file_get_string (kf, group, "Value", NULL);
  if (hex != NULL)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (GBytes) value = bp_value_parse (hex, BP_FORMAT_NONE, 0, &error);

      /* bp_peripheral_set checks the value against MaxLength; a restored
       * value is not a producer's set. */
      if (value == NULL || !bp_peripheral_set (p, chr, value, &error))
        g_warning ("handoff: the saved value of %s is left out: %s", id, error ? error->message : "bad hex");
      else
        {
          chr->n_set--;
          (*n_values)++;
        }
    }
  writes = g_key_file_get_string_list (kf, group, "Captured", NULL, NULL);
  for (guint i = 0; writes != NULL && writes[i] != NULL; i++)
    {
      BpCapturedWrite *w = parse_write (writes[i]);

      if (w == NULL)
        {
          g_warning ("handoff: captured write %u of %s is malformed (\"%s\"); left out", i + 1, id, writes[i]);
          continue;
        }
      if (!chr->config->capture)
        {
          bp_captured_write_free (w);
          continue;
        }
      g_queue_push_tail (&queue, w);
      (*n_writes)++;
    }
  if (!chr->config->capture && writes != NULL && writes[0] != NULL)
    g_warning ("handoff: %s no longer has Capture=true; its captured writes are left out", id);
  bp_characteristic_capture_requeue (chr, &queue);
}

gboolean
bp_handoff_restore (BpPeripheral *p, const char *path, guint *n_values, guint *n_writes, GError **error)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autoptr (GError) local = NULL;
  g_auto (GStrv) groups = NULL;

  *n_values = *n_writes = 0;
  if (!g_key_file_load_from_file (kf, path, G_KEY_FILE_NONE, &local))
    {
      if (g_error_matches (local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        return TRUE;
      g_set_error (error, BP_ERROR, BP_ERROR_FAILED, "%s: %s", path, local->message);
      return FALSE;
    }
  if (g_key_file_get_integer (kf, "Handoff", "Version", NULL) != 1)
    {
      g_set_error (error, BP_ERROR, BP_ERROR_FAILED, "%s: not a handoff file of version 1", path);
      return FALSE;
    }
  groups = g_key_file_get_groups (kf, NULL);
  for (guint i = 0; groups[i] != NULL; i++)
    if (g_str_has_prefix (groups[i], CHAR_GROUP_PREFIX))
      restore_characteristic (p, kf, groups[i], n_values, n_writes);
  /* Taken: a later start must not restore it again. */
  if (g_unlink (path) != 0)
    {
      int saved = errno;
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved), "removing %s: %s", path, g_strerror (saved));
      return FALSE;
    }
  return TRUE;
}
