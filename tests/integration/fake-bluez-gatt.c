/* The stand-in bluetoothd's GattManager1: RegisterApplication reads the
 * application's objects and checks them as bluetoothd 5.66 does
 * (src/gatt-database.c); and the calls bluetoothd makes on the application
 * for the centrals: ReadValue, WriteValue, StartNotify, StopNotify, Confirm. */
#define G_LOG_DOMAIN "fake-bluez"

#include "fake-bluez-private.h"

#include <string.h>

/* --- records -------------------------------------------------------------- */

static void
gatt_service_free (FakeGattService *s)
{
  g_free (s->path);
  g_free (s->uuid);
  g_free (s->uuid128);
  g_free (s);
}

static void
gatt_characteristic_free (FakeGattCharacteristic *c)
{
  g_free (c->path);
  g_free (c->uuid);
  g_free (c->uuid128);
  g_free (c->service_path);
  g_strfreev (c->flags);
  g_ptr_array_unref (c->subscribers);
  g_free (c);
}

static void
gatt_descriptor_free (FakeGattDescriptor *d)
{
  g_free (d->path);
  g_free (d->uuid);
  g_free (d->uuid128);
  g_free (d->characteristic_path);
  g_strfreev (d->flags);
  g_clear_pointer (&d->value, g_bytes_unref);
  g_free (d);
}

void
fake_application_free (FakeApplication *app)
{
  g_free (app->sender);
  g_free (app->path);
  g_free (app->error_name);
  g_free (app->error_message);
  g_ptr_array_unref (app->services);
  g_ptr_array_unref (app->characteristics);
  g_ptr_array_unref (app->descriptors);
  g_clear_pointer (&app->objects, g_variant_unref);
  g_free (app);
}

/* --- characteristics seen by the centrals --------------------------------- */

static FakeApplication *
application_owning (FakeBluez *fb, const char *path, gboolean *is_descriptor)
{
  FakeApplication *app = fake_bluez_get_active_application (fb);

  if (app == NULL || path == NULL)
    return NULL;
  for (guint i = 0; i < app->characteristics->len; i++)
    {
      FakeGattCharacteristic *c = g_ptr_array_index (app->characteristics, i);
      if (g_strcmp0 (c->path, path) == 0)
        {
          if (is_descriptor)
            *is_descriptor = FALSE;
          return app;
        }
    }
  for (guint i = 0; i < app->descriptors->len; i++)
    {
      FakeGattDescriptor *d = g_ptr_array_index (app->descriptors, i);
      if (g_strcmp0 (d->path, path) == 0)
        {
          if (is_descriptor)
            *is_descriptor = TRUE;
          return app;
        }
    }
  return NULL;
}

static void
characteristic_call_no_reply (FakeBluez *fb, const char *path, const char *method)
{
  FakeApplication *app = application_owning (fb, path, NULL);

  if (app == NULL)
    {
      g_debug ("%s: no active application has %s", method, path);
      return;
    }
  fake_bluez_send_no_reply (fb, app->sender, path, IFACE_CHRC, method, NULL);
}

void
fake_bluez_start_notify (FakeBluez *fb, const char *path)
{
  characteristic_call_no_reply (fb, path, "StartNotify");
}

void
fake_bluez_stop_notify (FakeBluez *fb, const char *path)
{
  characteristic_call_no_reply (fb, path, "StopNotify");
}

void
fake_bluez_confirm (FakeBluez *fb, const char *path)
{
  characteristic_call_no_reply (fb, path, "Confirm");
}

static gboolean
remove_subscriber (FakeGattCharacteristic *chr, const char *device_path)
{
  for (guint i = 0; i < chr->subscribers->len; i++)
    if (g_strcmp0 (g_ptr_array_index (chr->subscribers, i), device_path) == 0)
      {
        g_ptr_array_remove_index (chr->subscribers, i);
        return TRUE;
      }
  return FALSE;
}

void
fake_bluez_subscribe (FakeBluez *fb, const char *device_path, const char *path, gboolean on)
{
  FakeApplication *app = application_owning (fb, path, NULL);
  FakeGattCharacteristic *chr = app ? fake_application_get_characteristic (app, path) : NULL;

  g_return_if_fail (chr != NULL);
  if (on)
    {
      for (guint i = 0; i < chr->subscribers->len; i++)
        if (g_strcmp0 (g_ptr_array_index (chr->subscribers, i), device_path) == 0)
          return;
      g_ptr_array_add (chr->subscribers, g_strdup (device_path));
      /* With NotifyAcquired, AcquireNotify instead of StartNotify. */
      if (chr->notify_acquired)
        fake_bluez_sockets_subscribe (fb, app, chr, device_path, TRUE);
      else
        /* 5.66 calls StartNotify for every central that turns its CCCD on. */
        fake_bluez_start_notify (fb, path);
    }
  else if (remove_subscriber (chr, device_path))
    {
      if (chr->notify_acquired)
        fake_bluez_sockets_subscribe (fb, app, chr, device_path, FALSE);
      else if (chr->subscribers->len == 0)
        fake_bluez_stop_notify (fb, path);
    }
}

void
fake_bluez_unsubscribe_device (FakeBluez *fb, const char *device_path)
{
  FakeApplication *app = fake_bluez_get_active_application (fb);

  if (app == NULL)
    return;
  for (guint i = 0; i < app->characteristics->len; i++)
    {
      FakeGattCharacteristic *chr = g_ptr_array_index (app->characteristics, i);
      FakeDevice *d = fake_bluez_find_device (fb, device_path);
      gboolean bonded = d != NULL && d->bonded;
      g_autofree char *first = chr->subscribers->len > 0 ? g_strdup (g_ptr_array_index (chr->subscribers, 0)) : NULL;

      if (chr->notify_acquired || chr->write_acquired)
        {
          /* A bonded central keeps its CCCD across the disconnection. */
          if (!bonded)
            remove_subscriber (chr, device_path);
          fake_bluez_sockets_disconnect (fb, chr, device_path, first, bonded);
          continue;
        }
      if (remove_subscriber (chr, device_path) && chr->subscribers->len == 0)
        fake_bluez_stop_notify (fb, chr->path);
    }
}

/* --- asynchronous calls with a bounded wait ------------------------------- */

typedef struct {
  gboolean done;
  GVariant *reply;
  GError *error;
} CallResult;

static void
call_result_clear (CallResult *r)
{
  g_clear_pointer (&r->reply, g_variant_unref);
  g_clear_error (&r->error);
}

static void
call_done_cb (GObject *source, GAsyncResult *res, gpointer data)
{
  CallResult *r = data;

  r->reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), res, &r->error);
  r->done = TRUE;
  g_rc_box_release_full (r, (GDestroyNotify) call_result_clear);
}

struct _FakeRequest {
  CallResult *result; /* shared with the call's callback */
  char *description;
  int timeout_ms;
};

static FakeRequest *
request_new (const char *method, const char *path, int timeout_ms)
{
  FakeRequest *req = g_new0 (FakeRequest, 1);

  req->result = g_rc_box_new0 (CallResult);
  req->description = g_strdup_printf ("%s on %s", method, path);
  req->timeout_ms = timeout_ms;
  return req;
}

/* A request that failed before it was sent. */
static FakeRequest *
request_new_failed (const char *method, const char *path, GError *error)
{
  FakeRequest *req = request_new (method, path, 0);

  req->result->error = error;
  req->result->done = TRUE;
  return req;
}

static FakeRequest *
call_begin (FakeBluez *fb, const char *dest, const char *path, const char *iface, const char *method, GVariant *params,
            const GVariantType *reply_type, int timeout_ms)
{
  FakeRequest *req;

  if (fb->conn == NULL)
    {
      if (params != NULL)
        g_variant_unref (g_variant_ref_sink (params));
      return request_new_failed (method, path,
                                 g_error_new (G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED, "the stand-in is not on the bus"));
    }
  req = request_new (method, path, timeout_ms);
  fake_bluez_record_call (fb, method, path, FALSE);
  g_dbus_connection_call (fb->conn, dest, path, iface, method, params, reply_type, G_DBUS_CALL_FLAGS_NO_AUTO_START,
                          timeout_ms, NULL, call_done_cb, g_rc_box_acquire (req->result));
  return req;
}

gboolean
fake_request_is_done (FakeRequest *req)
{
  return req->result->done;
}

/* Iterates the main context until the reply (GDBus delivers a timeout
 * error after timeout_ms at the latest); frees req. */
static GVariant *
call_finish (FakeRequest *req, GError **error)
{
  GVariant *reply = NULL;

  if (!FAKE_WAIT_UNTIL (req->result->done, req->timeout_ms + 2000))
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "%s: no reply", req->description);
  else if (req->result->error != NULL)
    g_propagate_error (error, g_steal_pointer (&req->result->error));
  else
    reply = g_steal_pointer (&req->result->reply);
  g_rc_box_release_full (req->result, (GDestroyNotify) call_result_clear);
  g_free (req->description);
  g_free (req);
  return reply;
}

FakeRequest *
fake_bluez_call_begin (FakeBluez *fb, const char *dest, const char *path, const char *iface, const char *method,
                       GVariant *params, const GVariantType *reply_type, int timeout_ms)
{
  return call_begin (fb, dest, path, iface, method, params, reply_type, timeout_ms);
}

GVariant *
fake_request_finish (FakeRequest *req, GError **error)
{
  return call_finish (req, error);
}

static GVariant *
call_and_wait (FakeBluez *fb, const char *dest, const char *path, const char *iface, const char *method,
               GVariant *params, const GVariantType *reply_type, int timeout_ms, GError **error)
{
  return call_finish (call_begin (fb, dest, path, iface, method, params, reply_type, timeout_ms), error);
}

static GVariant *
att_options (FakeBluez *fb, const char *device_path, guint16 offset, guint16 *mtu_out)
{
  GVariantBuilder b;
  FakeDevice *d = fake_bluez_find_device (fb, device_path);
  g_autofree char *fallback = NULL;
  guint16 mtu = d ? d->mtu : 23;

  if (device_path == NULL)
    device_path = fallback = fake_device_path_for (FAKE_BLUEZ_CENTRAL_ADDRESS);
  if (mtu_out != NULL)
    *mtu_out = mtu;
  /* In bluetoothd's order: device, offset (only when non-zero), link, mtu. */
  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "device", g_variant_new_object_path (device_path));
  if (offset != 0)
    g_variant_builder_add (&b, "{sv}", "offset", g_variant_new_uint16 (offset));
  g_variant_builder_add (&b, "{sv}", "link", g_variant_new_string ("LE"));
  g_variant_builder_add (&b, "{sv}", "mtu", g_variant_new_uint16 (mtu));
  return g_variant_builder_end (&b);
}

FakeRequest *
fake_bluez_read_value_begin (FakeBluez *fb, const char *path, const char *device_path, guint16 offset)
{
  gboolean is_desc = FALSE;
  FakeApplication *app = application_owning (fb, path, &is_desc);

  if (app == NULL)
    return request_new_failed ("ReadValue", path,
                               g_error_new (G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "no active application has %s", path));
  return call_begin (fb, app->sender, path, is_desc ? IFACE_DESC : IFACE_CHRC, "ReadValue",
                     g_variant_new ("(@a{sv})", att_options (fb, device_path, offset, NULL)), G_VARIANT_TYPE ("(ay)"),
                     FAKE_BLUEZ_CALL_TIMEOUT_MS);
}

GBytes *
fake_bluez_read_value (FakeBluez *fb, const char *path, const char *device_path, guint16 offset, GError **error)
{
  return fake_request_finish_read (fake_bluez_read_value_begin (fb, path, device_path, offset), error);
}

GBytes *
fake_request_finish_read (FakeRequest *req, GError **error)
{
  g_autoptr (GVariant) reply = call_finish (req, error);
  g_autoptr (GVariant) bytes = NULL;
  gsize len;
  const guint8 *data;

  if (reply == NULL)
    return NULL;
  bytes = g_variant_get_child_value (reply, 0);
  data = g_variant_get_fixed_array (bytes, &len, 1);
  /* bluetoothd cuts the reply to the ATT maximum. */
  return g_bytes_new (data, MIN (len, (gsize) ATT_MAX_VALUE_LEN));
}

GBytes *
fake_bluez_read_long (FakeBluez *fb, const char *path, const char *device_path, guint *n_calls, GError **error)
{
  FakeDevice *d = fake_bluez_find_device (fb, device_path);
  gsize chunk_max = (d ? d->mtu : 23) - 1;
  g_autoptr (GByteArray) out = g_byte_array_new ();
  guint calls = 0;

  for (;;)
    {
      g_autoptr (GBytes) part = NULL;
      gsize len;
      const guint8 *data;

      calls++;
      part = fake_bluez_read_value (fb, path, device_path, out->len, error);
      if (part == NULL)
        {
          if (n_calls != NULL)
            *n_calls = calls;
          return NULL;
        }
      data = g_bytes_get_data (part, &len);
      /* A Read (Blob) Response carries at most MTU-1 bytes. */
      len = MIN (len, chunk_max);
      g_byte_array_append (out, data, len);
      if (len < chunk_max || out->len >= ATT_MAX_VALUE_LEN)
        break;
    }
  if (n_calls != NULL)
    *n_calls = calls;
  return g_byte_array_free_to_bytes (g_steal_pointer (&out));
}

gboolean
fake_bluez_write_value (FakeBluez *fb, const char *path, const char *device_path, guint16 offset, const void *data,
                        gsize len, GError **error)
{
  gboolean is_desc = FALSE;
  FakeApplication *app = application_owning (fb, path, &is_desc);
  FakeGattCharacteristic *chr;
  GVariant *params;
  g_autoptr (GVariant) reply = NULL;

  if (app == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "no active application has %s", path);
      return FALSE;
    }
  params = g_variant_new ("(@ay@a{sv})", g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, data, len, 1),
                          att_options (fb, device_path, offset, NULL));
  chr = is_desc ? NULL : fake_application_get_characteristic (app, path);
  if (chr != NULL && chr->write_acquired && offset == 0)
    {
      g_autofree char *fallback = device_path ? NULL : fake_device_path_for (FAKE_BLUEZ_CENTRAL_ADDRESS);

      /* Acknowledged at once; the bytes go on the socket. */
      if (fake_bluez_sockets_write (fb, app, chr, device_path ? device_path : fallback, data, len, error))
        {
          g_variant_unref (g_variant_ref_sink (params));
          return TRUE;
        }
      g_clear_error (error);
    }
  if (chr != NULL && chr->write_without_response)
    {
      /* bluetoothd has already acknowledged the write to the central. */
      fake_bluez_send_no_reply (fb, app->sender, path, IFACE_CHRC, "WriteValue", params);
      return TRUE;
    }
  reply = call_and_wait (fb, app->sender, path, is_desc ? IFACE_DESC : IFACE_CHRC, "WriteValue", params, NULL,
                         FAKE_BLUEZ_CALL_TIMEOUT_MS, error);
  return reply != NULL;
}

gboolean
fake_bluez_write_long (FakeBluez *fb, const char *path, const char *device_path, const void *data, gsize len,
                       GError **error)
{
  FakeDevice *d = fake_bluez_find_device (fb, device_path);
  gsize chunk_max = (d ? d->mtu : 23) - 5; /* Prepare Write Request payload */
  gsize offset = 0;

  do
    {
      gsize n = MIN (len - offset, chunk_max);
      if (!fake_bluez_write_value (fb, path, device_path, offset, (const guint8 *) data + offset, n, error))
        return FALSE;
      offset += n;
    }
  while (offset < len);
  return TRUE;
}

gboolean
fake_bluez_read_descriptors (FakeBluez *fb, GError **error)
{
  FakeApplication *app = fake_bluez_get_active_application (fb);

  if (app == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "no active application");
      return FALSE;
    }
  for (guint i = 0; i < app->descriptors->len; i++)
    {
      FakeGattDescriptor *d = g_ptr_array_index (app->descriptors, i);
      g_autoptr (GBytes) value = fake_bluez_read_long (fb, d->path, NULL, NULL, error);

      if (value == NULL)
        {
          g_prefix_error (error, "reading %s: ", d->path);
          return FALSE;
        }
      g_clear_pointer (&d->value, g_bytes_unref);
      d->value = g_steal_pointer (&value);
    }
  return TRUE;
}

gboolean
fake_bluez_sync (FakeBluez *fb)
{
  FakeApplication *app = fake_bluez_get_active_application (fb);
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GError) error = NULL;

  if (app == NULL)
    return FALSE;
  reply = call_and_wait (fb, app->sender, app->path, IFACE_OM, "GetManagedObjects", NULL, NULL,
                         FAKE_BLUEZ_CALL_TIMEOUT_MS, &error);
  /* An error reply is a round trip too; only a timeout is not. */
  return reply != NULL || !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
}

guint8
fake_error_to_att (const GError *error, gboolean is_write)
{
  g_autofree char *name = NULL;
  /* clang-format off */
  static const struct {
    const char *name;
    guint8 att;
  } map[] = {
    { "org.bluez.Error.NotSupported", 0x06 },
    { "org.bluez.Error.NotAuthorized", 0x08 },
    { "org.bluez.Error.InvalidValueLength", 0x0d },
    { "org.bluez.Error.InvalidOffset", 0x07 },
    { "org.bluez.Error.InProgress", 0xfe },
  };
  /* clang-format on */

  if (error == NULL)
    return 0;
  name = g_dbus_error_get_remote_error (error);
  if (name == NULL)
    return 0x0e; /* no answer in time, or an answer bluetoothd cannot read */
  if (g_strcmp0 (name, ERROR_FAILED) == 0)
    {
      /* 5.66 passes "0x80"…"0x9f" through as the application error. */
      guint64 code = 0;
      const char *m = strstr (error->message, "0x");

      if (m != NULL && strlen (m) == 4 && g_ascii_string_to_unsigned (m + 2, 16, 0x80, 0x9f, &code, NULL))
        return (guint8) code;
      return 0x80;
    }
  if (g_strcmp0 (name, "org.bluez.Error.NotPermitted") == 0)
    return is_write ? 0x03 : 0x02;
  for (guint i = 0; i < G_N_ELEMENTS (map); i++)
    if (g_strcmp0 (name, map[i].name) == 0)
      return map[i].att;
  return 0x0e;
}

/* --- GattManager1 --------------------------------------------------------- */

static const char *const chrc_flag_names[] = {
  "broadcast",
  "read",
  "write-without-response",
  "write",
  "notify",
  "indicate",
  "authenticated-signed-writes",
  "extended-properties",
  "reliable-write",
  "writable-auxiliaries",
  "encrypt-read",
  "encrypt-write",
  "encrypt-notify",
  "encrypt-indicate",
  "encrypt-authenticated-read",
  "encrypt-authenticated-write",
  "encrypt-authenticated-notify",
  "encrypt-authenticated-indicate",
  "secure-read",
  "secure-write",
  "secure-notify",
  "secure-indicate",
  "authorize",
  NULL,
};

static const char *const desc_flag_names[] = {
  "read",
  "write",
  "encrypt-read",
  "encrypt-write",
  "encrypt-authenticated-read",
  "encrypt-authenticated-write",
  "secure-read",
  "secure-write",
  "authorize",
  NULL,
};

/* Flags as bluetoothd parses them: an array of known names, at least one. */
static GStrv
parse_flags (GVariant *props, const char *const *known, char **why)
{
  g_autoptr (GVariant) flags = g_variant_lookup_value (props, "Flags", NULL);
  g_auto (GStrv) names = NULL;

  if (flags == NULL || !g_variant_is_of_type (flags, G_VARIANT_TYPE_STRING_ARRAY))
    {
      *why = g_strdup ("Flags missing or not 'as'");
      return NULL;
    }
  names = g_variant_dup_strv (flags, NULL);
  if (names[0] == NULL)
    {
      *why = g_strdup ("Flags is empty");
      return NULL;
    }
  for (guint i = 0; names[i] != NULL; i++)
    if (!g_strv_contains (known, names[i]))
      {
        *why = g_strdup_printf ("invalid flag \"%s\"", names[i]);
        return NULL;
      }
  return g_steal_pointer (&names);
}

static gboolean
lookup_path_property (GVariant *props, const char *name, const char **out)
{
  return g_variant_lookup (props, name, "&o", out);
}

static gboolean
optional_property_has_type (GVariant *props, const char *name, const GVariantType *type)
{
  g_autoptr (GVariant) v = g_variant_lookup_value (props, name, NULL);

  return v == NULL || g_variant_is_of_type (v, type);
}

/* Reads the database out of a GetManagedObjects reply in the order
 * bluetoothd does (services, then characteristics, then descriptors), with
 * its checks. On failure returns the message of the Error.Failed reply and
 * puts the reason in *why. */
static const char *
application_parse (FakeApplication *app, GVariant *objects, char **why)
{
  GVariantIter iter;
  const char *path;
  GVariant *ifaces;
  guint n_proxies = 0;
  static const char *const gap_gatt[] = { "00001800-0000-1000-8000-00805f9b34fb",
                                          "00001801-0000-1000-8000-00805f9b34fb", NULL };

  g_variant_iter_init (&iter, objects);
  while (g_variant_iter_next (&iter, "{&o@a{sa{sv}}}", &path, &ifaces))
    {
      GVariantIter iiter;
      const char *iface;

      g_variant_iter_init (&iiter, ifaces);
      while (g_variant_iter_next (&iiter, "{&s@a{sv}}", &iface, NULL))
        if (!g_str_has_prefix (iface, "org.freedesktop.DBus."))
          n_proxies++;
      g_variant_unref (ifaces);
    }
  if (n_proxies == 0)
    {
      *why = g_strdup ("no object with an interface");
      return "No object received";
    }

  /* Services first. */
  g_variant_iter_init (&iter, objects);
  while (g_variant_iter_next (&iter, "{&o@a{sa{sv}}}", &path, &ifaces))
    {
      g_autoptr (GVariant) owned = ifaces;
      g_autoptr (GVariant) props = g_variant_lookup_value (ifaces, IFACE_SERVICE, G_VARIANT_TYPE_VARDICT);
      FakeGattService *s;
      const char *uuid = NULL;

      if (props == NULL)
        continue;
      s = g_new0 (FakeGattService, 1);
      s->path = g_strdup (path);
      g_ptr_array_add (app->services, s);
      if (!g_variant_lookup (props, "UUID", "&s", &uuid) || (s->uuid128 = fake_uuid_normalize (uuid)) == NULL)
        {
          *why = g_strdup_printf ("%s: bad UUID", path);
          return "Failed to create entry in database";
        }
      s->uuid = g_strdup (uuid);
      if (g_strv_contains (gap_gatt, s->uuid128))
        {
          *why = g_strdup_printf ("%s: GAP and GATT services are bluetoothd's", path);
          return "Failed to create entry in database";
        }
      if (!g_variant_lookup (props, "Primary", "b", &s->primary))
        {
          *why = g_strdup_printf ("%s: Primary missing or not 'b'", path);
          return "Failed to create entry in database";
        }
      if (!optional_property_has_type (props, "Includes", G_VARIANT_TYPE_OBJECT_PATH_ARRAY) ||
          !optional_property_has_type (props, "Handle", G_VARIANT_TYPE_UINT16))
        {
          *why = g_strdup_printf ("%s: Includes or Handle of the wrong type", path);
          return "Failed to create entry in database";
        }
    }

  /* Characteristics. */
  g_variant_iter_init (&iter, objects);
  while (g_variant_iter_next (&iter, "{&o@a{sa{sv}}}", &path, &ifaces))
    {
      g_autoptr (GVariant) owned = ifaces;
      g_autoptr (GVariant) props = g_variant_lookup_value (ifaces, IFACE_CHRC, G_VARIANT_TYPE_VARDICT);
      FakeGattCharacteristic *c;
      const char *service_path = NULL, *uuid = NULL;

      if (props == NULL)
        continue;
      c = g_new0 (FakeGattCharacteristic, 1);
      c->path = g_strdup (path);
      c->subscribers = g_ptr_array_new_with_free_func (g_free);
      g_ptr_array_add (app->characteristics, c);
      if (!lookup_path_property (props, "Service", &service_path))
        {
          *why = g_strdup_printf ("%s: Service missing or not 'o'", path);
          return "No valid service object found";
        }
      c->service_path = g_strdup (service_path);
      {
        gboolean found = FALSE;
        for (guint i = 0; i < app->services->len && !found; i++)
          found = g_strcmp0 (((FakeGattService *) g_ptr_array_index (app->services, i))->path, service_path) == 0;
        if (!found)
          {
            *why = g_strdup_printf ("%s: Service %s is not a service", path, service_path);
            return "No valid service object found";
          }
      }
      if ((c->flags = parse_flags (props, chrc_flag_names, why)) == NULL)
        {
          g_autofree char *reason = g_steal_pointer (why);
          *why = g_strdup_printf ("%s: %s", path, reason);
          return "No valid service object found";
        }
      c->write_without_response = g_strv_contains ((const char *const *) c->flags, "write-without-response");
      c->notify_acquired = g_variant_lookup (props, "NotifyAcquired", "b", NULL);
      c->write_acquired = g_variant_lookup (props, "WriteAcquired", "b", NULL);
      if (!g_variant_lookup (props, "UUID", "&s", &uuid) || (c->uuid128 = fake_uuid_normalize (uuid)) == NULL)
        {
          *why = g_strdup_printf ("%s: bad UUID", path);
          return "Failed to create entry in database";
        }
      c->uuid = g_strdup (uuid);
      if (!optional_property_has_type (props, "Handle", G_VARIANT_TYPE_UINT16))
        {
          *why = g_strdup_printf ("%s: Handle not 'q'", path);
          return "Failed to create entry in database";
        }
    }

  /* Descriptors. */
  g_variant_iter_init (&iter, objects);
  while (g_variant_iter_next (&iter, "{&o@a{sa{sv}}}", &path, &ifaces))
    {
      g_autoptr (GVariant) owned = ifaces;
      g_autoptr (GVariant) props = g_variant_lookup_value (ifaces, IFACE_DESC, G_VARIANT_TYPE_VARDICT);
      FakeGattDescriptor *d;
      const char *chrc_path = NULL, *uuid = NULL;

      if (props == NULL)
        continue;
      d = g_new0 (FakeGattDescriptor, 1);
      d->path = g_strdup (path);
      g_ptr_array_add (app->descriptors, d);
      if (!lookup_path_property (props, "Characteristic", &chrc_path) ||
          fake_application_get_characteristic (app, chrc_path) == NULL)
        {
          *why = g_strdup_printf ("%s: Characteristic missing or not a characteristic", path);
          return "No valid service object found";
        }
      d->characteristic_path = g_strdup (chrc_path);
      if ((d->flags = parse_flags (props, desc_flag_names, why)) == NULL)
        {
          g_autofree char *reason = g_steal_pointer (why);
          *why = g_strdup_printf ("%s: %s", path, reason);
          return "No valid service object found";
        }
      if (!g_variant_lookup (props, "UUID", "&s", &uuid) || (d->uuid128 = fake_uuid_normalize (uuid)) == NULL)
        {
          *why = g_strdup_printf ("%s: bad UUID", path);
          return "Failed to create entry in database";
        }
      d->uuid = g_strdup (uuid);
      /* Stricter than bluetoothd, which would add a second CCCD: the
       * application must never export its own. */
      if (fake_uuid_equal (d->uuid128, "2902"))
        {
          *why = g_strdup_printf ("%s: a 0x2902 descriptor (bluetoothd makes the CCCD)", path);
          return "Failed to create entry in database";
        }
    }

  if (app->services->len == 0)
    {
      *why = g_strdup ("no GattService1 object");
      return "No valid service object found";
    }
  return NULL;
}

static void
app_objects_cb (GObject *source, GAsyncResult *res, gpointer data)
{
  PendingRegistration *p = data;
  FakeApplication *app = p->app;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), res, &error);
  g_autofree char *why = NULL;
  const char *failure;

  /* Cancelled: the stand-in left the bus and may be gone, app with it. */
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      fake_pending_registration_free (p);
      return;
    }
  /* Dropped meanwhile (the adapter went, the registrant vanished):
   * bluetoothd never answers then. */
  if (app->state != FAKE_REGISTRATION_PENDING)
    {
      fake_pending_registration_free (p);
      return;
    }
  if (reply == NULL)
    {
      g_debug ("RegisterApplication %s%s: GetManagedObjects failed: %s", app->sender, app->path, error->message);
      fake_registration_fail (g_steal_pointer (&p->invocation), &app->state, &app->error_name, &app->error_message,
                              ERROR_FAILED, "No object received");
      fake_pending_registration_free (p);
      return;
    }
  app->objects = g_variant_get_child_value (reply, 0);
  failure = application_parse (app, app->objects, &why);
  if (failure != NULL)
    {
      g_message ("RegisterApplication %s%s refused: %s (%s)", app->sender, app->path, failure, why);
      fake_registration_fail (g_steal_pointer (&p->invocation), &app->state, &app->error_name, &app->error_message,
                              ERROR_FAILED, failure);
    }
  else
    {
      g_debug ("RegisterApplication %s%s: %u services, %u characteristics, %u descriptors", app->sender, app->path,
               app->services->len, app->characteristics->len, app->descriptors->len);
      app->state = FAKE_REGISTRATION_ACTIVE;
      g_dbus_method_invocation_return_value (g_steal_pointer (&p->invocation), NULL);
    }
  fake_pending_registration_free (p);
}

static FakeApplication *
find_live_application (FakeBluez *fb, const char *sender, const char *path)
{
  for (guint i = 0; i < fb->applications->len; i++)
    {
      FakeApplication *app = g_ptr_array_index (fb->applications, i);
      if (fake_registration_is_live (app->state) && g_strcmp0 (app->sender, sender) == 0 &&
          g_strcmp0 (app->path, path) == 0)
        return app;
    }
  return NULL;
}

void
fake_bluez_handle_register_application (FakeBluez *fb, const char *sender, GVariant *params,
                                        GDBusMethodInvocation *invocation)
{
  const char *path;
  FakeApplication *app;
  PendingRegistration *p;

  g_variant_get (params, "(&o@a{sv})", &path, NULL);
  app = g_new0 (FakeApplication, 1);
  app->serial = fb->applications->len + 1;
  app->sender = g_strdup (sender);
  app->path = g_strdup (path);
  app->services = g_ptr_array_new_with_free_func ((GDestroyNotify) gatt_service_free);
  app->characteristics = g_ptr_array_new_with_free_func ((GDestroyNotify) gatt_characteristic_free);
  app->descriptors = g_ptr_array_new_with_free_func ((GDestroyNotify) gatt_descriptor_free);
  app->time_us = g_get_monotonic_time ();
  app->state = FAKE_REGISTRATION_PENDING;

  if (find_live_application (fb, sender, path) != NULL)
    {
      g_ptr_array_add (fb->applications, app);
      fake_registration_fail (invocation, &app->state, &app->error_name, &app->error_message,
                              "org.bluez.Error.AlreadyExists", "Already Exists");
      return;
    }
  g_ptr_array_add (fb->applications, app);
  fake_bluez_ensure_watch (fb, sender);

  p = g_new0 (PendingRegistration, 1);
  p->fb = fb;
  p->app = app;
  p->invocation = invocation;
  /* Exactly at the registered path, before replying. */
  fake_bluez_record_call (fb, "GetManagedObjects", path, FALSE);
  g_dbus_connection_call (fb->conn, sender, path, IFACE_OM, "GetManagedObjects", NULL,
                          G_VARIANT_TYPE ("(a{oa{sa{sv}}})"), G_DBUS_CALL_FLAGS_NO_AUTO_START, REGISTRANT_TIMEOUT_MS,
                          fb->cancellable, app_objects_cb, p);
}

void
fake_bluez_handle_unregister_application (FakeBluez *fb, const char *sender, GVariant *params,
                                          GDBusMethodInvocation *invocation)
{
  const char *path;
  FakeApplication *app;

  g_variant_get (params, "(&o)", &path);
  fb->n_unregister_application++;
  app = find_live_application (fb, sender, path);
  if (app == NULL)
    {
      g_dbus_method_invocation_return_dbus_error (invocation, "org.bluez.Error.DoesNotExist", "Does Not Exist");
      return;
    }
  app->state = FAKE_REGISTRATION_UNREGISTERED;
  g_dbus_method_invocation_return_value (invocation, NULL);
}

/* --- queries -------------------------------------------------------------- */

GPtrArray *
fake_bluez_get_applications (FakeBluez *fb)
{
  return fb->applications;
}

FakeApplication *
fake_bluez_get_active_application (FakeBluez *fb)
{
  for (guint i = fb->applications->len; i > 0; i--)
    {
      FakeApplication *app = g_ptr_array_index (fb->applications, i - 1);
      if (app->state == FAKE_REGISTRATION_ACTIVE)
        return app;
    }
  return NULL;
}

guint
fake_bluez_count_applications (FakeBluez *fb, FakeRegistrationState state)
{
  guint n = 0;

  for (guint i = 0; i < fb->applications->len; i++)
    if (((FakeApplication *) g_ptr_array_index (fb->applications, i))->state == state)
      n++;
  return n;
}

guint
fake_bluez_get_n_unregister_application (FakeBluez *fb)
{
  return fb->n_unregister_application;
}

FakeGattService *
fake_application_find_service (FakeApplication *app, const char *uuid)
{
  for (guint i = 0; i < app->services->len; i++)
    {
      FakeGattService *s = g_ptr_array_index (app->services, i);
      if (fake_uuid_equal (s->uuid128, uuid))
        return s;
    }
  return NULL;
}

FakeGattCharacteristic *
fake_application_find_characteristic (FakeApplication *app, const char *uuid)
{
  for (guint i = 0; i < app->characteristics->len; i++)
    {
      FakeGattCharacteristic *c = g_ptr_array_index (app->characteristics, i);
      if (fake_uuid_equal (c->uuid128, uuid))
        return c;
    }
  return NULL;
}

FakeGattCharacteristic *
fake_application_get_characteristic (FakeApplication *app, const char *path)
{
  for (guint i = 0; i < app->characteristics->len; i++)
    {
      FakeGattCharacteristic *c = g_ptr_array_index (app->characteristics, i);
      if (g_strcmp0 (c->path, path) == 0)
        return c;
    }
  return NULL;
}

GPtrArray *
fake_application_get_descriptors (FakeApplication *app, const char *characteristic_path)
{
  GPtrArray *out = g_ptr_array_new ();

  for (guint i = 0; i < app->descriptors->len; i++)
    {
      FakeGattDescriptor *d = g_ptr_array_index (app->descriptors, i);
      if (g_strcmp0 (d->characteristic_path, characteristic_path) == 0)
        g_ptr_array_add (out, d);
    }
  return out;
}

FakeGattDescriptor *
fake_application_find_descriptor (FakeApplication *app, const char *characteristic_path, const char *uuid)
{
  for (guint i = 0; i < app->descriptors->len; i++)
    {
      FakeGattDescriptor *d = g_ptr_array_index (app->descriptors, i);
      if (g_strcmp0 (d->characteristic_path, characteristic_path) == 0 && fake_uuid_equal (d->uuid128, uuid))
        return d;
    }
  return NULL;
}

gboolean
fake_characteristic_has_flag (FakeGattCharacteristic *chr, const char *flag)
{
  return chr->flags != NULL && g_strv_contains ((const char *const *) chr->flags, flag);
}