/* The GATT application objects. Objects are registered by hand, not through
 * GDBus interface skeletons: skeletons emit property changes from an idle
 * handler and merge two quick updates into one, and every notification must
 * be its own PropertiesChanged signal, in order. */
#define G_LOG_DOMAIN "gatt"

#include "build-config.h"

#include "daemon/gatt.h"

#include <gio/gunixfdlist.h>
#include <unistd.h>

#include "common/error.h"
#include "daemon/buscall.h"
#include "daemon/fastpath.h"
#include "daemon/log.h"
#include "common/uuid.h"

#define SERVICE_IFACE "org.bluez.GattService1"
#define CHAR_IFACE "org.bluez.GattCharacteristic1"
#define DESC_IFACE "org.bluez.GattDescriptor1"

/* clang-format off */
static const char introspection_xml[] =
  "<node>"
  " <interface name='org.freedesktop.DBus.ObjectManager'>"
  "  <method name='GetManagedObjects'>"
  "   <arg name='objects' type='a{oa{sa{sv}}}' direction='out'/>"
  "  </method>"
  "  <signal name='InterfacesAdded'><arg type='o'/><arg type='a{sa{sv}}'/></signal>"
  "  <signal name='InterfacesRemoved'><arg type='o'/><arg type='as'/></signal>"
  " </interface>"
  " <interface name='" SERVICE_IFACE "'>"
  "  <property name='UUID' type='s' access='read'/>"
  "  <property name='Primary' type='b' access='read'/>"
  "  <property name='Includes' type='ao' access='read'/>"
  " </interface>"
  " <interface name='" CHAR_IFACE "'>"
  "  <method name='ReadValue'>"
  "   <arg name='options' type='a{sv}' direction='in'/>"
  "   <arg name='value' type='ay' direction='out'/>"
  "  </method>"
  "  <method name='WriteValue'>"
  "   <arg name='value' type='ay' direction='in'/>"
  "   <arg name='options' type='a{sv}' direction='in'/>"
  "  </method>"
  "  <method name='StartNotify'/>"
  "  <method name='StopNotify'/>"
  "  <method name='Confirm'/>"
  "  <method name='AcquireNotify'>"
  "   <arg name='options' type='a{sv}' direction='in'/>"
  "   <arg name='fd' type='h' direction='out'/>"
  "   <arg name='mtu' type='q' direction='out'/>"
  "  </method>"
  "  <method name='AcquireWrite'>"
  "   <arg name='options' type='a{sv}' direction='in'/>"
  "   <arg name='fd' type='h' direction='out'/>"
  "   <arg name='mtu' type='q' direction='out'/>"
  "  </method>"
  "  <property name='UUID' type='s' access='read'/>"
  "  <property name='Service' type='o' access='read'/>"
  "  <property name='Flags' type='as' access='read'/>"
  "  <property name='Value' type='ay' access='read'/>"
  "  <property name='Notifying' type='b' access='read'/>"
  "  <property name='NotifyAcquired' type='b' access='read'/>"
  "  <property name='WriteAcquired' type='b' access='read'/>"
  " </interface>"
  " <interface name='" DESC_IFACE "'>"
  "  <method name='ReadValue'>"
  "   <arg name='options' type='a{sv}' direction='in'/>"
  "   <arg name='value' type='ay' direction='out'/>"
  "  </method>"
  "  <method name='WriteValue'>"
  "   <arg name='value' type='ay' direction='in'/>"
  "   <arg name='options' type='a{sv}' direction='in'/>"
  "  </method>"
  "  <property name='UUID' type='s' access='read'/>"
  "  <property name='Characteristic' type='o' access='read'/>"
  "  <property name='Flags' type='as' access='read'/>"
  "  <property name='Value' type='ay' access='read'/>"
  " </interface>"
  "</node>";
/* clang-format on */

typedef enum { OBJ_SERVICE, OBJ_CHAR, OBJ_DESC } ObjKind;

typedef struct {
  BpGatt *gatt;
  ObjKind kind;
  char *path;
  char *parent; /* service of a characteristic, characteristic of a descriptor */
  BpUuid uuid;
  gboolean primary;  /* services */
  char *chr_id;      /* characteristics: looked up in the peripheral on each call */
  BpFlags flags;     /* descriptors */
  GByteArray *value; /* descriptors */
  guint registration;
} Obj;

struct _BpGatt {
  GDBusConnection *conn;
  BpPeripheral *p;
  GDBusNodeInfo *info;
  guint manager_registration;
  GPtrArray *objects;     /* of Obj*, in database order */
  GHashTable *char_paths; /* chr id → path */
  /* The parts of every PropertiesChanged(Value) that never change, made
   * once: building them per notification was a tenth of its cost. */
  GVariant *char_iface;     /* "org.bluez.GattCharacteristic1" */
  GVariant *value_key;      /* "Value" */
  GVariant *no_invalidated; /* [] of type as */
  /* Signals emitted, and known to have been taken in by bluetoothd: GDBus
   * and then dbus-daemon queue without bound (hundreds of MB) what the next
   * hop cannot take yet, and bluetoothd's replies to our method calls wait
   * behind that queue. */
  guint64 emitted;
  guint64 consumed;
  guint64 probe_mark;
  guint64 probe_ahead;  /* signals not yet taken in when the ping went */
  gint64 probe_sent_us; /* monotonic */
  double intake;        /* bluetoothd's signals per second, as measured */
  guint64 high;         /* the backlog producers wait above */
  guint64 high_said;    /* in the log (0: not yet) */
  gboolean probing;
  gboolean congested;
  GCancellable *cancellable;
  BpFastPath *fastpath; /* the acquired sockets */
};

/* Every BACKLOG_STEP signals bluetoothd is pinged; producers wait above a
 * backlog of signals it has not taken in yet and resume below a quarter of
 * it. The backlog is also what our replies to bluetoothd's calls (a
 * central's write, a read) wait behind, and bluetoothd answers the central
 * with ATT 0x0e when a reply is 5 s late: so the backlog is what bluetoothd
 * takes in within BACKLOG_DELAY_S, as each ping measures it (a slow
 * bluetoothd, a Pi Zero or an emulated guest under load, takes in 50-200
 * signals/s), between BACKLOG_HIGH_MIN and BACKLOG_HIGH_MAX. A ping
 * unanswered after BACKLOG_PING_MS counts as answered (the bus went on
 * without it; nothing waits for ever). */
#define BACKLOG_STEP 32
#define BACKLOG_HIGH_MIN 64
#define BACKLOG_HIGH_MAX 256
#define BACKLOG_DELAY_S 1.0
#define BACKLOG_PING_MS 30000

char *
bp_device_path_to_address (const char *path)
{
  const char *base;
  g_autofree char *addr = NULL;

  if (path == NULL)
    return NULL;
  base = strrchr (path, '/');
  base = base ? base + 1 : path;
  if (!g_str_has_prefix (base, "dev_") || strlen (base) != 4 + 17)
    return NULL;
  /* dev_XX_XX_XX_XX_XX_XX, hex digits and underscores where bluetoothd
   * puts them: anything else is not a device's path. */
  for (int i = 0; i < 17; i++)
    if (i % 3 == 2 ? base[4 + i] != '_' : !g_ascii_isxdigit (base[4 + i]))
      return NULL;
  addr = g_strdup (base + 4);
  for (char *c = addr; *c; c++)
    if (*c == '_')
      *c = ':';
  return g_steal_pointer (&addr);
}

void
bp_att_error_to_dbus (guint8 att, gboolean is_write, const char **name, char **message)
{
  switch (att)
    {
    case 0x02:
    case 0x03:
      *name = "org.bluez.Error.NotPermitted";
      *message = g_strdup (is_write ? "Write not permitted" : "Read not permitted");
      return;
    case 0x06:
      *name = "org.bluez.Error.NotSupported";
      *message = g_strdup ("Request not supported");
      return;
    case 0x07:
      *name = "org.bluez.Error.InvalidOffset";
      *message = g_strdup ("Invalid offset");
      return;
    case 0x08:
      *name = "org.bluez.Error.NotAuthorized";
      *message = g_strdup ("Not authorized");
      return;
    case 0x0d:
      *name = "org.bluez.Error.InvalidValueLength";
      *message = g_strdup ("Invalid attribute value length");
      return;
    default:
      break;
    }
  if (att >= 0x80 && att <= 0x9f)
    {
      /* bluetoothd reads the code from the message of Error.Failed. */
      *name = "org.bluez.Error.Failed";
      *message = g_strdup_printf ("0x%02x", att);
      return;
    }
  /* bluetoothd answers any other error name with 0x0e (Unlikely Error). */
  *name = "org.bleperipheral.Error.Unlikely";
  *message = g_strdup_printf ("ATT error 0x%02x cannot be carried through bluetoothd; sent as 0x0e", att);
}

static void
return_att_error (BpBusCall *call, guint8 att, gboolean is_write)
{
  const char *name = NULL;
  g_autofree char *message = NULL;

  bp_att_error_to_dbus (att, is_write, &name, &message);
  bp_bus_call_return_error (call, name, "%s", message);
}

static void
obj_free (Obj *o)
{
  g_free (o->path);
  g_free (o->parent);
  g_free (o->chr_id);
  if (o->value != NULL)
    g_byte_array_unref (o->value);
  g_free (o);
}

static GVariant *
bytes_variant (const guint8 *data, gsize len)
{
  return g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, data, len, 1);
}

/* The bytes of data from offset on (offset <= len); an empty value may have
 * no data at all, and NULL + 0 is undefined in C. */
static GVariant *
bytes_variant_from (const guint8 *data, gsize len, gsize offset, gsize max)
{
  gsize n = MIN (len - offset, max);

  return bytes_variant (n > 0 ? data + offset : NULL, n);
}

static GVariant *
flags_variant (BpFlags flags)
{
  g_auto (GStrv) names = bp_flags_to_strv (flags);
  return g_variant_new_strv ((const char *const *) names, -1);
}

static BpCharacteristic *
obj_characteristic (Obj *o)
{
  return bp_peripheral_lookup (o->gatt->p, o->chr_id, NULL);
}

static GVariant *
obj_get_property (Obj *o, const char *name)
{
  char uuid[BP_UUID_STRLEN];

  bp_uuid_to_string (&o->uuid, uuid);
  if (g_str_equal (name, "UUID"))
    return g_variant_new_string (uuid);

  switch (o->kind)
    {
    case OBJ_SERVICE:
      if (g_str_equal (name, "Primary"))
        return g_variant_new_boolean (o->primary);
      if (g_str_equal (name, "Includes"))
        return g_variant_new_objv (NULL, 0);
      break;
    case OBJ_CHAR:
      {
        BpCharacteristic *chr = obj_characteristic (o);

        if (chr == NULL)
          return NULL;
        if (g_str_equal (name, "Service"))
          return g_variant_new_object_path (o->parent);
        if (g_str_equal (name, "Flags"))
          return flags_variant (chr->config->flags);
        if (g_str_equal (name, "Value"))
          return bytes_variant (chr->value->data, chr->value->len);
        if (g_str_equal (name, "Notifying"))
          return g_variant_new_boolean (chr->notifying);
        /* Present only where the sockets are wanted: bluetoothd calls
         * Acquire* when the property exists, whatever its value. */
        if (g_str_equal (name, "NotifyAcquired") && bp_fastpath_exports_notify (o->gatt->fastpath, chr))
          return g_variant_new_boolean (bp_fastpath_notify_acquired (o->gatt->fastpath, chr));
        if (g_str_equal (name, "WriteAcquired") && bp_fastpath_exports_write (o->gatt->fastpath, chr))
          return g_variant_new_boolean (bp_fastpath_write_acquired (o->gatt->fastpath, chr));
      }
      break;
    case OBJ_DESC:
      if (g_str_equal (name, "Characteristic"))
        return g_variant_new_object_path (o->parent);
      if (g_str_equal (name, "Flags"))
        return flags_variant (o->flags);
      if (g_str_equal (name, "Value"))
        return bytes_variant (o->value->data, o->value->len);
      break;
    }
  return NULL;
}

static GVariant *
handle_get_property (GDBusConnection *conn, const char *sender, const char *path, const char *iface, const char *name,
                     GError **error, gpointer user_data)
{
  GVariant *v = obj_get_property (user_data, name);

  if (v == NULL)
    g_set_error (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_PROPERTY, "No property %s", name);
  return v;
}

static const char *
obj_interface (Obj *o)
{
  switch (o->kind)
    {
    case OBJ_SERVICE:
      return SERVICE_IFACE;
    case OBJ_CHAR:
      return CHAR_IFACE;
    case OBJ_DESC:
    default:
      return DESC_IFACE;
    }
}

static GVariant *
obj_properties (Obj *o)
{
  static const char *const service_props[] = { "UUID", "Primary", "Includes", NULL };
  static const char *const char_props[] = { "UUID",      "Service",        "Flags",         "Value",
                                            "Notifying", "NotifyAcquired", "WriteAcquired", NULL };
  static const char *const desc_props[] = { "UUID", "Characteristic", "Flags", "Value", NULL };
  const char *const *names = o->kind == OBJ_SERVICE ? service_props : o->kind == OBJ_CHAR ? char_props : desc_props;
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE ("a{sv}"));
  for (guint i = 0; names[i] != NULL; i++)
    {
      GVariant *v = obj_get_property (o, names[i]);
      if (v != NULL)
        g_variant_builder_add (&b, "{sv}", names[i], v);
    }
  return g_variant_builder_end (&b);
}

typedef struct {
  BpBusCall *call;
  guint offset;
} ReadOp;

static void
read_done (GBytes *value, guint8 att_error, gpointer user_data)
{
  ReadOp *op = user_data;
  gsize len = 0;
  const guint8 *data;

  if (value == NULL)
    {
      return_att_error (op->call, att_error, FALSE);
    }
  else
    {
      data = g_bytes_get_data (value, &len);
      if (op->offset > len)
        {
          return_att_error (op->call, BP_ATT_INVALID_OFFSET, FALSE);
        }
      else
        {
          /* bluetoothd cuts the reply to 512 bytes itself; send at most that. */
          bp_bus_call_return_value (op->call,
                                    g_variant_new ("(@ay)", bytes_variant_from (data, len, op->offset, BP_VALUE_MAX)));
        }
    }
  g_free (op);
}

typedef struct {
  guint offset;
  guint16 mtu;
  char *address;
} AccessOptions;

static void
parse_options (GVariant *options, AccessOptions *out)
{
  const char *device = NULL;
  guint16 offset = 0, mtu = 0;

  g_variant_lookup (options, "device", "&o", &device);
  g_variant_lookup (options, "offset", "q", &offset);
  g_variant_lookup (options, "mtu", "q", &mtu);
  out->offset = offset;
  out->mtu = mtu;
  out->address = bp_device_path_to_address (device);
}

/* AcquireNotify / AcquireWrite: a socket pair, bluetoothd's end sent. */
static void
acquire (Obj *o, BpCharacteristic *chr, const char *method, GVariant *params, BpBusCall *call)
{
  BpFastPath *fp = o->gatt->fastpath;
  gboolean notify = g_str_equal (method, "AcquireNotify");
  g_autoptr (GVariant) options = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GUnixFDList) fds = NULL;
  AccessOptions ao = { 0 };
  int fd;

  g_variant_get (params, "(@a{sv})", &options);
  parse_options (options, &ao);
  if (!(notify ? bp_fastpath_exports_notify (fp, chr) : bp_fastpath_exports_write (fp, chr)))
    {
      /* NotSupported makes bluetoothd fall back to StartNotify/WriteValue. */
      g_free (ao.address);
      bp_bus_call_return_error (call, "org.bluez.Error.NotSupported", "AcquireSockets=off for this characteristic");
      return;
    }
  fd = notify ? bp_fastpath_acquire_notify (fp, chr, ao.address, ao.mtu, &error) :
                bp_fastpath_acquire_write (fp, chr, ao.address, ao.mtu, &error);
  g_free (ao.address);
  if (fd < 0)
    {
      bp_log_characteristic (G_LOG_LEVEL_WARNING, chr->id, "%s: %s: %s", chr->id, method, error->message);
      bp_bus_call_return_error (call, "org.bluez.Error.NotSupported", "%s", error->message);
      return;
    }
  fds = g_unix_fd_list_new_from_array (&fd, 1); /* takes fd */
  bp_bus_call_return_value_with_fds (call, g_variant_new ("(hq)", 0, ao.mtu != 0 ? ao.mtu : (guint16) 23),
                                     g_steal_pointer (&fds));
}

static void
char_method (Obj *o, BpBusCall *call)
{
  BpPeripheral *p = o->gatt->p;
  BpCharacteristic *chr = obj_characteristic (o);
  const char *method = bp_bus_call_get_method (call);
  GVariant *params = bp_bus_call_get_parameters (call);
  gboolean no_reply = bp_bus_call_no_reply (call);

  if (chr == NULL)
    {
      bp_bus_call_return_error (call, "org.bluez.Error.Failed", "characteristic is gone");
      return;
    }

  if (g_str_equal (method, "ReadValue"))
    {
      g_autoptr (GVariant) options = NULL;
      AccessOptions ao = { 0 };
      ReadOp *op;

      g_variant_get (params, "(@a{sv})", &options);
      parse_options (options, &ao);
      bp_peripheral_update_mtu (p, ao.address, ao.mtu);
      if (!(chr->config->flags & BP_FLAGS_ANY_READ))
        {
          g_free (ao.address);
          return_att_error (call, BP_ATT_READ_NOT_PERMITTED, FALSE);
          return;
        }
      op = g_new0 (ReadOp, 1);
      op->call = call;
      op->offset = ao.offset;
      bp_peripheral_read (p, chr, ao.address, ao.offset, read_done, op);
      g_free (ao.address);
      return;
    }

  if (g_str_equal (method, "WriteValue"))
    {
      g_autoptr (GVariant) value = NULL;
      g_autoptr (GVariant) options = NULL;
      AccessOptions ao = { 0 };
      gsize len = 0;
      const guint8 *data;
      guint8 att;

      g_variant_get (params, "(@ay@a{sv})", &value, &options);
      data = g_variant_get_fixed_array (value, &len, 1);
      parse_options (options, &ao);
      bp_peripheral_update_mtu (p, ao.address, ao.mtu);
      if (!(chr->config->flags & BP_FLAGS_ANY_WRITE))
        att = BP_ATT_WRITE_NOT_PERMITTED;
      else
        att = bp_peripheral_write (p, chr, ao.address, data, len, ao.offset);
      if (att != 0)
        {
          bp_log_characteristic (G_LOG_LEVEL_INFO, chr->id,
                                 "%s: write of %" G_GSIZE_FORMAT " bytes at offset %u from %s refused with ATT 0x%02x",
                                 chr->id, len, ao.offset, ao.address ? ao.address : "?", att);
          if (no_reply)
            bp_log_characteristic (G_LOG_LEVEL_WARNING, chr->id,
                                   "%s: a write without response was refused (ATT 0x%02x) but bluetoothd "
                                   "has already acknowledged it",
                                   chr->id, att);
        }
      g_free (ao.address);
      if (no_reply)
        bp_bus_call_drop (call);
      else if (att != 0)
        return_att_error (call, att, TRUE);
      else
        bp_bus_call_return_value (call, NULL);
      return;
    }

  if (g_str_equal (method, "AcquireNotify") || g_str_equal (method, "AcquireWrite"))
    {
      acquire (o, chr, method, params, call);
      return;
    }

  /* StartNotify, StopNotify and Confirm come with no reply expected: give none. */
  if (g_str_equal (method, "StartNotify"))
    bp_peripheral_subscribed (p, chr, TRUE);
  else if (g_str_equal (method, "StopNotify"))
    bp_peripheral_subscribed (p, chr, FALSE);
  else if (g_str_equal (method, "Confirm"))
    bp_peripheral_confirmed (p, chr, NULL);

  if (no_reply)
    bp_bus_call_drop (call);
  else
    bp_bus_call_return_value (call, NULL);
}

static void
desc_method (Obj *o, BpBusCall *call)
{
  AccessOptions ao = { 0 };
  g_autoptr (GVariant) options = NULL;
  const char *method = bp_bus_call_get_method (call);
  GVariant *params = bp_bus_call_get_parameters (call);

  if (g_str_equal (method, "ReadValue"))
    {
      g_variant_get (params, "(@a{sv})", &options);
      parse_options (options, &ao);
      g_free (ao.address);
      if (!(o->flags & BP_FLAGS_ANY_READ))
        return_att_error (call, BP_ATT_READ_NOT_PERMITTED, FALSE);
      else if (ao.offset > o->value->len)
        return_att_error (call, BP_ATT_INVALID_OFFSET, FALSE);
      else
        bp_bus_call_return_value (
          call, g_variant_new ("(@ay)", bytes_variant_from (o->value->data, o->value->len, ao.offset, G_MAXSIZE)));
      return;
    }
  if (g_str_equal (method, "WriteValue"))
    {
      g_autoptr (GVariant) value = NULL;
      gsize len = 0;
      const guint8 *data;

      g_variant_get (params, "(@ay@a{sv})", &value, &options);
      data = g_variant_get_fixed_array (value, &len, 1);
      parse_options (options, &ao);
      g_free (ao.address);
      if (!(o->flags & BP_FLAGS_ANY_WRITE))
        return_att_error (call, BP_ATT_WRITE_NOT_PERMITTED, TRUE);
      else if (ao.offset > o->value->len)
        return_att_error (call, BP_ATT_INVALID_OFFSET, TRUE);
      else if (ao.offset + len > BP_VALUE_MAX)
        return_att_error (call, BP_ATT_INVALID_VALUE_LENGTH, TRUE);
      else
        {
          g_byte_array_set_size (o->value, ao.offset);
          g_byte_array_append (o->value, data, len);
          bp_bus_call_return_value (call, NULL);
        }
      return;
    }
  bp_bus_call_return_error (call, "org.bluez.Error.NotSupported", "%s", method);
}

/* Every call on a service, characteristic or descriptor: bluetoothd only,
 * with the arguments its interface declares. */
static void
obj_call (Obj *o, BpBusCall *call)
{
  if (!bp_bus_call_from_bluez (call))
    return;
  if (!bp_bus_call_check_args (call, g_dbus_node_info_lookup_interface (o->gatt->info, obj_interface (o))))
    return;
  if (o->kind == OBJ_CHAR)
    char_method (o, call);
  else if (o->kind == OBJ_DESC)
    desc_method (o, call);
  else
    bp_bus_call_return_error (call, "org.bluez.Error.NotSupported", "%s", bp_bus_call_get_method (call));
}

static void
handle_method (GDBusConnection *conn, const char *sender, const char *path, const char *iface, const char *method,
               GVariant *params, GDBusMethodInvocation *invocation, gpointer user_data)
{
  obj_call (user_data, bp_bus_call_new (invocation));
}

static const GDBusInterfaceVTable obj_vtable = { handle_method, handle_get_property, NULL, { 0 } };

static void
manager_call (BpGatt *gatt, BpBusCall *call)
{
  GVariantBuilder b;

  if (!bp_bus_call_from_bluez (call))
    return;
  if (!bp_bus_call_check_args (call,
                               g_dbus_node_info_lookup_interface (gatt->info, "org.freedesktop.DBus.ObjectManager")))
    return;

  g_variant_builder_init (&b, G_VARIANT_TYPE ("a{oa{sa{sv}}}"));
  for (guint i = 0; i < gatt->objects->len; i++)
    {
      Obj *o = g_ptr_array_index (gatt->objects, i);
      GVariantBuilder ifaces;

      g_variant_builder_init (&ifaces, G_VARIANT_TYPE ("a{sa{sv}}"));
      g_variant_builder_add (&ifaces, "{s@a{sv}}", obj_interface (o), obj_properties (o));
      g_variant_builder_add (&b, "{oa{sa{sv}}}", o->path, &ifaces);
    }
  bp_bus_call_return_value (call, g_variant_new ("(a{oa{sa{sv}}})", &b));
}

static void
handle_manager_method (GDBusConnection *conn, const char *sender, const char *path, const char *iface,
                       const char *method, GVariant *params, GDBusMethodInvocation *invocation, gpointer user_data)
{
  manager_call (user_data, bp_bus_call_new (invocation));
}

void
bp_gatt_handle_call (BpGatt *gatt, BpBusCall *call)
{
  const char *path = bp_bus_call_get_path (call);
  const char *iface = bp_bus_call_get_interface (call);

  if (g_strcmp0 (path, BP_APP_PATH) == 0 && g_strcmp0 (iface, "org.freedesktop.DBus.ObjectManager") == 0)
    {
      manager_call (gatt, call);
      return;
    }
  for (guint i = 0; i < gatt->objects->len; i++)
    {
      Obj *o = g_ptr_array_index (gatt->objects, i);

      if (g_strcmp0 (o->path, path) != 0)
        continue;
      if (g_strcmp0 (obj_interface (o), iface) != 0)
        break;
      obj_call (o, call);
      return;
    }
  bp_bus_call_return_error (call, "org.freedesktop.DBus.Error.UnknownMethod", "No such interface “%s” at %s",
                            iface ? iface : "", path ? path : "");
}

static const GDBusInterfaceVTable manager_vtable = { handle_manager_method, NULL, NULL, { 0 } };

static Obj *
add_object (BpGatt *gatt, ObjKind kind, char *path, const char *parent, const BpUuid *uuid)
{
  Obj *o = g_new0 (Obj, 1);

  o->gatt = gatt;
  o->kind = kind;
  o->path = path;
  o->parent = g_strdup (parent);
  o->uuid = *uuid;
  g_ptr_array_add (gatt->objects, o);
  return o;
}

static Obj *
add_descriptor (BpGatt *gatt, const char *char_path, guint index, guint16 uuid16, const BpUuid *uuid, BpFlags flags,
                const guint8 *data, gsize len)
{
  BpUuid u;
  Obj *o;

  if (uuid == NULL)
    {
      bp_uuid_from_u16 (uuid16, &u);
      uuid = &u;
    }
  o = add_object (gatt, OBJ_DESC, g_strdup_printf ("%s/desc%u", char_path, index), char_path, uuid);
  o->flags = flags;
  o->value = g_byte_array_sized_new (len);
  if (len > 0)
    g_byte_array_append (o->value, data, len);
  return o;
}

static void
build_objects (BpGatt *gatt)
{
  const BpConfig *config = bp_peripheral_get_config (gatt->p);

  for (guint s = 0; s < config->services->len; s++)
    {
      BpServiceConfig *sc = g_ptr_array_index (config->services, s);
      char *spath = g_strdup_printf (BP_APP_PATH "/service%u", s);
      Obj *so = add_object (gatt, OBJ_SERVICE, spath, NULL, &sc->uuid);

      so->primary = sc->primary;
      for (guint c = 0; c < sc->characteristics->len; c++)
        {
          BpCharacteristicConfig *cc = g_ptr_array_index (sc->characteristics, c);
          char *cpath = g_strdup_printf ("%s/char%u", spath, c);
          Obj *co = add_object (gatt, OBJ_CHAR, cpath, spath, &cc->uuid);
          guint d = 0;

          co->chr_id = g_strdup (cc->id);
          g_hash_table_insert (gatt->char_paths, g_strdup (cc->id), g_strdup (cpath));

          if (cc->description != NULL)
            add_descriptor (gatt, cpath, d++, 0x2901, NULL, BP_FLAG_READ, (const guint8 *) cc->description,
                            strlen (cc->description));
          if (cc->presentation_format && cc->format != BP_FORMAT_NONE)
            {
              /* Characteristic Presentation Format: format, exponent, unit,
               * namespace (0x01, Bluetooth SIG), description (0x0000). */
              guint8 pf[7] = {
                bp_format_gatt_code (cc->format),
                (guint8) (gint8) cc->exponent,
                cc->has_unit ? (cc->unit & 0xff) : 0x00,
                cc->has_unit ? (cc->unit >> 8) : 0x27, /* 0x2700: unitless */
                0x01,
                0x00,
                0x00,
              };
              add_descriptor (gatt, cpath, d++, 0x2904, NULL, BP_FLAG_READ, pf, sizeof pf);
            }
          for (guint k = 0; k < cc->descriptors->len; k++)
            {
              BpDescriptorConfig *dc = g_ptr_array_index (cc->descriptors, k);
              gsize len = 0;
              const guint8 *data = g_bytes_get_data (dc->value, &len);

              add_descriptor (gatt, cpath, d++, 0, &dc->uuid, dc->flags, data, len);
            }
        }
    }
}

static void
unexport (BpGatt *gatt)
{
  for (guint i = 0; i < gatt->objects->len; i++)
    {
      Obj *o = g_ptr_array_index (gatt->objects, i);
      if (o->registration != 0)
        g_dbus_connection_unregister_object (gatt->conn, o->registration);
    }
  g_ptr_array_set_size (gatt->objects, 0);
  g_hash_table_remove_all (gatt->char_paths);
}

static gboolean export(BpGatt *gatt, GError **error)
{
  build_objects (gatt);
  for (guint i = 0; gatt->conn != NULL && i < gatt->objects->len; i++)
    {
      Obj *o = g_ptr_array_index (gatt->objects, i);
      GDBusInterfaceInfo *iface = g_dbus_node_info_lookup_interface (gatt->info, obj_interface (o));

      o->registration = g_dbus_connection_register_object (gatt->conn, o->path, iface, &obj_vtable, o, NULL, error);
      if (o->registration == 0)
        {
          g_prefix_error (error, "exporting %s: ", o->path);
          unexport (gatt);
          return FALSE;
        }
    }
  return TRUE;
}

BpGatt *
bp_gatt_new (GDBusConnection *conn, BpPeripheral *p, GError **error)
{
  g_autoptr (BpGatt) gatt = g_new0 (BpGatt, 1);

  gatt->conn = conn != NULL ? g_object_ref (conn) : NULL;
  gatt->cancellable = g_cancellable_new ();
  /* the least until bluetoothd is measured (its first ping) */
  gatt->high = BACKLOG_HIGH_MIN;
  gatt->p = p;
  gatt->objects = g_ptr_array_new_with_free_func ((GDestroyNotify) obj_free);
  gatt->char_paths = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  gatt->char_iface = g_variant_ref_sink (g_variant_new_string (CHAR_IFACE));
  gatt->value_key = g_variant_ref_sink (g_variant_new_string ("Value"));
  gatt->no_invalidated = g_variant_ref_sink (g_variant_new_array (G_VARIANT_TYPE_STRING, NULL, 0));
  gatt->info = g_dbus_node_info_new_for_xml (introspection_xml, error);
  if (gatt->info == NULL)
    return NULL;
  /* Without a connection (fuzz targets): the objects, for bp_gatt_handle_call(). */
  if (conn != NULL)
    {
      gatt->manager_registration = g_dbus_connection_register_object (
        conn, BP_APP_PATH, g_dbus_node_info_lookup_interface (gatt->info, "org.freedesktop.DBus.ObjectManager"),
        &manager_vtable, gatt, NULL, error);
      if (gatt->manager_registration == 0)
        return NULL;
    }
  gatt->fastpath = bp_fastpath_new (conn, p, gatt);
  if (!export(gatt, error))
    return NULL;
  return g_steal_pointer (&gatt);
}

void
bp_gatt_free (BpGatt *gatt)
{
  if (gatt == NULL)
    return;
  g_clear_pointer (&gatt->fastpath, bp_fastpath_free);
  if (gatt->objects != NULL)
    unexport (gatt);
  if (gatt->manager_registration != 0)
    g_dbus_connection_unregister_object (gatt->conn, gatt->manager_registration);
  g_clear_pointer (&gatt->objects, g_ptr_array_unref);
  g_clear_pointer (&gatt->char_paths, g_hash_table_unref);
  g_clear_pointer (&gatt->info, g_dbus_node_info_unref);
  g_clear_pointer (&gatt->char_iface, g_variant_unref);
  g_clear_pointer (&gatt->value_key, g_variant_unref);
  g_clear_pointer (&gatt->no_invalidated, g_variant_unref);
  g_cancellable_cancel (gatt->cancellable);
  g_clear_object (&gatt->cancellable);
  g_clear_object (&gatt->conn);
  g_free (gatt);
}

gboolean
bp_gatt_rebuild (BpGatt *gatt, GError **error)
{
  unexport (gatt);
  bp_fastpath_reset (gatt->fastpath);
  return export(gatt, error);
}

BpFastPath *
bp_gatt_get_fastpath (BpGatt *gatt)
{
  return gatt->fastpath;
}

static void backlog_probe (BpGatt *gatt);

/* A ping answered: the signals ahead of it took that long to be taken in.
 * Only a ping behind a full step says how fast bluetoothd is; the figure
 * follows the last few (bluetoothd's speed moves with its other work). */
static void
backlog_measure (BpGatt *gatt)
{
  double took = (double) (g_get_monotonic_time () - gatt->probe_sent_us) / G_USEC_PER_SEC;
  double sample, high;

  if (gatt->probe_ahead < BACKLOG_STEP || took <= 0)
    return;
  sample = (double) gatt->probe_ahead / took;
  gatt->intake = gatt->intake > 0 ? 0.7 * gatt->intake + 0.3 * sample : sample;
  high = gatt->intake * BACKLOG_DELAY_S;
  high = high < BACKLOG_HIGH_MIN ? BACKLOG_HIGH_MIN : high > BACKLOG_HIGH_MAX ? BACKLOG_HIGH_MAX : high;
  /* said again when it moves by a quarter */
  if (high > 1.25 * gatt->high_said || high < 0.75 * gatt->high_said)
    {
      gatt->high_said = (guint64) high;
      g_debug ("bluetoothd takes in about %.0f signals/s: producers wait above %" G_GUINT64_FORMAT " not taken in",
               gatt->intake, (guint64) high);
    }
  gatt->high = (guint64) high;
}

static void
backlog_probed (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = NULL;
  BpGatt *gatt;

  reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), res, &error);
  if (reply == NULL && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return; /* gatt is gone */
  gatt = user_data;
  /* An error is an answer too (bluetoothd left: what it had not taken in
   * is gone with it); a timeout is logged. */
  if (reply == NULL && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
    g_debug ("bluetoothd did not answer a ping within %d s; counting it as caught up", BACKLOG_PING_MS / 1000);
  if (reply != NULL)
    backlog_measure (gatt);
  gatt->consumed = gatt->probe_mark;
  gatt->probing = FALSE;
  if (gatt->emitted - gatt->consumed >= BACKLOG_STEP)
    backlog_probe (gatt);
  if (gatt->congested && gatt->emitted - gatt->consumed < gatt->high / 4)
    {
      BpEvent ev = { .type = BP_EVENT_DRAINED };

      gatt->congested = FALSE;
      bp_peripheral_emit (gatt->p, &ev);
    }
}

/* org.freedesktop.DBus.Peer.Ping to bluetoothd, behind the signals already
 * emitted: dbus-daemon delivers one sender's messages to one receiver in
 * order, and bluetoothd's D-Bus library answers a ping when it reads it,
 * so the answer says bluetoothd has taken in every signal before it. */
static void
backlog_probe (BpGatt *gatt)
{
  gatt->probing = TRUE;
  gatt->probe_ahead = gatt->emitted - gatt->consumed;
  gatt->probe_sent_us = g_get_monotonic_time ();
  gatt->probe_mark = gatt->emitted;
  g_dbus_connection_call (gatt->conn, "org.bluez", "/", "org.freedesktop.DBus.Peer", "Ping", NULL, NULL,
                          G_DBUS_CALL_FLAGS_NO_AUTO_START, BACKLOG_PING_MS, gatt->cancellable, backlog_probed, gatt);
}

gboolean
bp_gatt_congested (BpGatt *gatt)
{
  if (gatt->emitted - gatt->consumed > gatt->high)
    gatt->congested = TRUE;
  return gatt->congested || bp_fastpath_congested (gatt->fastpath);
}

gboolean
bp_gatt_emit_value (BpGatt *gatt, BpCharacteristic *chr, GBytes *value, GError **error)
{
  const char *path = g_hash_table_lookup (gatt->char_paths, chr->id);
  GVariant *entry;
  GVariant *body[3];

  if (path == NULL || gatt->conn == NULL)
    {
      g_set_error (error, BP_ERROR, BP_ERROR_UNKNOWN_CHARACTERISTIC, "%s is not exported", chr->id);
      return FALSE;
    }
  /* (sa{sv}as) from its parts: the value's bytes are shared, not copied,
   * and no format string or builder is parsed per notification. */
  entry = g_variant_new_dict_entry (
    gatt->value_key, g_variant_new_variant (g_variant_new_from_bytes (G_VARIANT_TYPE_BYTESTRING, value, TRUE)));
  body[0] = gatt->char_iface;
  body[1] = g_variant_new_array (G_VARIANT_TYPE ("{sv}"), &entry, 1);
  body[2] = gatt->no_invalidated;
  gatt->emitted++;
  if (!gatt->probing && gatt->emitted - gatt->consumed >= BACKLOG_STEP)
    backlog_probe (gatt);
  /* Emitted at once: GDBus queues it to the bus in call order. */
  return g_dbus_connection_emit_signal (gatt->conn, NULL, path, "org.freedesktop.DBus.Properties", "PropertiesChanged",
                                        g_variant_new_tuple (body, 3), error);
}

gboolean
bp_gatt_notify (BpGatt *gatt, BpCharacteristic *chr, GBytes *value, const char *to_address, GError **error)
{
  /* The acquired sockets where they may carry it, else PropertiesChanged. */
  return bp_fastpath_notify (gatt->fastpath, chr, value, to_address, error);
}
