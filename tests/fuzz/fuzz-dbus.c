/* Fuzz target: the D-Bus method handlers of the exported objects (GATT
 * application, advertisement, pairing agent), called as bluetoothd would
 * call them but with anything in the call. Without a bus: the objects are
 * built unexported and each input becomes one stand-in call (BpBusCall).
 *
 * An input is text. Its first line names the call:
 *
 *   PATH INTERFACE METHOD [noreply] [intruder] [MODE] [ACTION]
 *
 * PATH is absolute, or relative to the application ("service0/char1/desc0";
 * "app" is the application itself, "adv" the advertisement, "agent" the
 * agent). INTERFACE is a full name or "char", "desc", "service", "om"
 * (ObjectManager), "adv", "agent" (Agent1). "noreply" sends it with no reply
 * expected, "intruder" from a bus name that is not bluetoothd's. A call on
 * the agent's path goes to the agent of the daemon whose [Security] Pairing=
 * is MODE ("off", "just-works", "display"; "confirm" without one); ACTION,
 * after the call, is what a producer does on that daemon's control socket:
 * "accept" or "reject" (pairing accept|reject ADDR, for the address of the
 * last pairing event), "window-off" or "window-on" (pairing off|on). The rest
 * of the input is the parameters in GVariant text form ("([0x01, 0x02],
 * {'offset': <uint16 3>})"); a value that is not a tuple is wrapped in one,
 * text that does not parse gives ().
 *
 * Checked for every call: it is answered exactly once (none when no reply
 * is expected), synchronously here (no producer serves reads), except a
 * pairing request the agent holds for a producer's answer (Pairing=confirm:
 * at most one per agent, answered later, exactly once); an error has a valid
 * D-Bus error name; an intruder gets NotAuthorized (or, for an object that
 * is not there, UnknownMethod), never a result and never a held request; a
 * read returns at most 512 bytes. The state (values, descriptors, capture
 * queues, the agents' held requests and windows) carries over from input to
 * input, as in a daemon. */
#define G_LOG_DOMAIN "fuzz-dbus"

#include "build-config.h"

#include "fuzz.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/value.h"
#include "daemon/advertising.h"
#include "daemon/agent.h"
#include "daemon/buscall.h"
#include "daemon/gatt.h"
#include "daemon/peripheral.h"

#define BLUEZ_NAME ":1.7"
#define INTRUDER_NAME ":1.99"

static const char config_text[] =
  "[Peripheral]\n"
  "Name=fuzz\n"
  "[Advertising]\n"
  "Timeout=30s\n"
  "[Service env]\n"
  "UUID=0x181A\n"
  "[Characteristic env/temp]\n"
  "UUID=0x2A6E\n"
  "Flags=read,notify,indicate\n"
  "Format=sint16\n"
  "Exponent=-2\n"
  "Initial=21.5\n"
  "Description=temperature\n"
  "[Characteristic env/buf]\n"
  "UUID=0xFFF1\n"
  "Flags=read,write\n"
  "MaxLength=20\n"
  "[Characteristic env/log]\n"
  "UUID=0xFFF2\n"
  "Flags=write\n"
  "Append=true\n"
  "MaxLength=64\n"
  "[Characteristic env/cmd]\n"
  "UUID=0xFFF3\n"
  "Flags=write,write-without-response\n"
  "Capture=true\n"
  "MaxLength=512\n"
  "QueueLength=8\n"
  "[Characteristic env/asked]\n"
  "UUID=0xFFF4\n"
  "Flags=read\n"
  "ReadHandler=socket\n"
  "[Characteristic env/big]\n"
  "UUID=0xFFF5\n"
  "Flags=read,write\n"
  "MaxLength=512\n"
  "[Descriptor env/buf/d]\n"
  "UUID=0xFFF9\n"
  "Flags=read,write\n"
  "Value=aa\n"
  "[Descriptor env/buf/ro]\n"
  "UUID=0xFFFA\n"
  "Flags=read\n"
  "Value=0102\n";

/* The agents, one daemon per [Security] Pairing= mode. */
static const char *const modes[] = { "confirm", "off", "just-works", "display" };

typedef struct {
  BpPeripheral *p;
  BpAgent *agent;
  char *last_address; /* of the last pairing event */
} AgentDaemon;

typedef struct {
  guint answers;
  char *error_name;
  GVariant *value;
} Answer;

typedef struct {
  BpPeripheral *p;
  BpGatt *gatt;
  BpAdvertisement *adv;
  guint released;
  AgentDaemon agents[G_N_ELEMENTS (modes)];
  GPtrArray *held; /* Answer *: agent calls not answered yet */
} Target;

static gboolean verbose;

/* The handlers' messages (refusals, writes) would swamp a campaign; warnings
 * and worse still go out (and criticals still abort under G_DEBUG). */
static GLogWriterOutput
quiet_writer (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
  if (!verbose && (level & (G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO | G_LOG_LEVEL_DEBUG)))
    return G_LOG_WRITER_HANDLED;
  g_log_writer_default (level, fields, n_fields, user_data);
  /* A critical is a finding: abort (SIGABRT, which libFuzzer catches and
   * saves the input for; G_DEBUG's breakpoint trap it does not). */
  if (level & (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_ERROR))
    abort ();
  return G_LOG_WRITER_HANDLED;
}

static void
pairing_event (const BpEvent *event, gpointer user_data)
{
  AgentDaemon *d = user_data;

  if (event->type == BP_EVENT_PAIRING && event->address != NULL)
    {
      g_free (d->last_address);
      d->last_address = g_strdup (event->address);
    }
}

static void
agent_daemon_init (AgentDaemon *d, const char *mode)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *text = g_strdup_printf ("[Security]\nPairing=%s\nConfirmTimeout=25s\n", mode);
  BpConfig *config = bp_config_load_from_data (text, -1, "fuzz-dbus-agent.conf", &error);

  g_assert_no_error (error);
  d->p = bp_peripheral_new (config);
  /* The adapter the BlueZ module would have found: devices under
   * /org/bluez/hci0 are the daemon's. */
  bp_peripheral_get_state (d->p)->adapter = g_strdup ("hci0");
  bp_peripheral_add_listener (d->p, pairing_event, d);
  d->agent = bp_agent_new (NULL, d->p, &error);
  g_assert_no_error (error);
}

static Target *
target (void)
{
  static Target *t;
  g_autoptr (GError) error = NULL;
  BpConfig *config;

  if (t != NULL)
    return t;
  t = g_new0 (Target, 1);
  verbose = g_getenv ("FUZZ_VERBOSE") != NULL;
  g_log_set_writer_func (quiet_writer, NULL, NULL);
  config = bp_config_load_from_data (config_text, -1, "fuzz-dbus.conf", &error);
  g_assert_no_error (error);
  t->p = bp_peripheral_new (config);
  t->gatt = bp_gatt_new (NULL, t->p, &error);
  g_assert_no_error (error);
  t->adv = bp_advertisement_new (NULL, bp_peripheral_get_config (t->p), NULL, NULL, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < G_N_ELEMENTS (modes); i++)
    agent_daemon_init (&t->agents[i], modes[i]);
  t->held = g_ptr_array_new ();
  bp_bus_set_bluez_owner (BLUEZ_NAME);
  return t;
}

static void
released (BpAdvertisement *adv, gpointer user_data)
{
  ((Target *) user_data)->released++;
}

static void
answered (GVariant *value, const char *error_name, const char *error_message, gpointer user_data)
{
  Answer *a = user_data;

  a->answers++;
  g_assert_cmpuint (a->answers, ==, 1);
  if (value != NULL)
    {
      g_assert_true (g_variant_is_of_type (value, G_VARIANT_TYPE_TUPLE));
      a->value = g_variant_ref (value);
    }
  else
    {
      g_assert_nonnull (error_name);
      g_assert_true (g_dbus_is_interface_name (error_name));
      g_assert_nonnull (error_message);
      g_assert_true (g_utf8_validate (error_message, -1, NULL));
      a->error_name = g_strdup (error_name);
    }
}

static const char *
interface_name (const char *word)
{
  if (g_str_equal (word, "char"))
    return "org.bluez.GattCharacteristic1";
  if (g_str_equal (word, "desc"))
    return "org.bluez.GattDescriptor1";
  if (g_str_equal (word, "service"))
    return "org.bluez.GattService1";
  if (g_str_equal (word, "om"))
    return "org.freedesktop.DBus.ObjectManager";
  if (g_str_equal (word, "adv"))
    return "org.bluez.LEAdvertisement1";
  if (g_str_equal (word, "agent"))
    return "org.bluez.Agent1";
  return word;
}

/* A new (non-floating) reference to the parameters, always a tuple. */
static GVariant *
parse_parameters (const char *text)
{
  g_autoptr (GVariant) v = NULL;

  /* D-Bus strings are UTF-8 (the bus refuses others), and the GVariant text
   * parser wants it too. */
  if (g_utf8_validate (text, -1, NULL))
    v = g_variant_parse (NULL, text, NULL, NULL, NULL);
  if (v == NULL)
    return g_variant_ref_sink (g_variant_new ("()"));
  if (g_variant_is_of_type (v, G_VARIANT_TYPE_TUPLE))
    return g_steal_pointer (&v);
  return g_variant_ref_sink (g_variant_new_tuple (&v, 1));
}

static void
answer_free (Answer *a)
{
  g_clear_pointer (&a->value, g_variant_unref);
  g_free (a->error_name);
  g_free (a);
}

/* What every answer must be. */
static void
check_answer (const Answer *a, gboolean intruder, guint64 refused)
{
  g_assert_cmpuint (a->answers, ==, 1);
  /* An intruder gets nothing done: refused (its call counted), or told
   * the object is not there, as anyone would be. */
  if (intruder)
    {
      g_assert_null (a->value);
      g_assert_cmpuint (bp_bus_refused_calls (), <=, refused + 1);
      g_assert_true (g_strcmp0 (a->error_name, BP_BUS_ERROR_NOT_AUTHORIZED) == 0 ||
                     g_strcmp0 (a->error_name, "org.freedesktop.DBus.Error.UnknownMethod") == 0);
      if (g_strcmp0 (a->error_name, BP_BUS_ERROR_NOT_AUTHORIZED) == 0)
        g_assert_cmpuint (bp_bus_refused_calls (), ==, refused + 1);
    }
  if (a->value != NULL && g_variant_is_of_type (a->value, G_VARIANT_TYPE ("(ay)")))
    {
      g_autoptr (GVariant) bytes = g_variant_get_child_value (a->value, 0);
      g_assert_cmpuint (g_variant_n_children (bytes), <=, BP_VALUE_MAX);
    }
}

/* A producer's pairing request on the daemon's control socket. Refusals
 * (nothing waits, Pairing=off) are ordinary. */
static void
producer_action (AgentDaemon *d, const char *action)
{
  g_autoptr (GError) error = NULL;

  if (g_str_equal (action, "accept") || g_str_equal (action, "reject"))
    {
      if (d->last_address != NULL && !bp_peripheral_pairing_answer (d->p, d->last_address, action[0] == 'a', &error))
        g_assert_true (g_error_matches (error, BP_ERROR, BP_ERROR_NOT_PENDING) ||
                       g_error_matches (error, BP_ERROR, BP_ERROR_PAIRING_OFF));
    }
  else if (g_str_equal (action, "window-off") || g_str_equal (action, "window-on"))
    {
      if (!bp_peripheral_pairing_window (d->p, action[8] == 'n', 0, &error))
        g_assert_true (g_error_matches (error, BP_ERROR, BP_ERROR_PAIRING_OFF));
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  Target *t = target ();
  g_autofree char *text = g_strndup ((const char *) data, size);
  char *nl = strchr (text, '\n');
  g_auto (GStrv) words = NULL;
  g_autofree char *path = NULL;
  gboolean no_reply = FALSE, intruder = FALSE;
  AgentDaemon *d = &t->agents[0];
  const char *action = NULL;
  Answer *a = g_new0 (Answer, 1);
  BpBusCall *call;
  guint64 refused = bp_bus_refused_calls ();
  g_autoptr (GVariant) params = NULL;

  if (nl != NULL)
    *nl = '\0';
  words = g_strsplit_set (text, " \t", 8);
  if (g_strv_length (words) < 3)
    {
      g_free (a);
      return 0;
    }
  for (guint i = 3; words[i] != NULL; i++)
    {
      no_reply |= g_str_equal (words[i], "noreply");
      intruder |= g_str_equal (words[i], "intruder");
      for (guint m = 0; m < G_N_ELEMENTS (modes); m++)
        {
          if (g_str_equal (words[i], modes[m]))
            d = &t->agents[m];
        }
      if (g_str_equal (words[i], "accept") || g_str_equal (words[i], "reject") ||
          g_str_equal (words[i], "window-off") || g_str_equal (words[i], "window-on"))
        action = words[i];
    }
  if (g_str_equal (words[0], "app"))
    path = g_strdup (BP_APP_PATH);
  else if (g_str_equal (words[0], "adv"))
    path = g_strdup (BP_ADVERTISEMENT_PATH);
  else if (g_str_equal (words[0], "agent"))
    path = g_strdup (BP_AGENT_PATH);
  else if (words[0][0] == '/')
    path = g_strdup (words[0]);
  else
    path = g_strconcat (BP_APP_PATH "/", words[0], NULL);

  /* What the bus itself would not deliver (dbus-daemon and GDBus check
   * these names): not a call the handlers can meet. */
  if (!g_variant_is_object_path (path) || !g_dbus_is_interface_name (interface_name (words[1])) ||
      !g_dbus_is_member_name (words[2]))
    {
      g_free (a);
      return 0;
    }
  params = parse_parameters (nl != NULL ? nl + 1 : "");
  bp_advertisement_set_released_func (t->adv, released, t);
  call = bp_bus_call_new_stand_in (intruder ? INTRUDER_NAME : BLUEZ_NAME, path, interface_name (words[1]), words[2],
                                   params, no_reply, answered, a);
  if (g_str_equal (path, BP_ADVERTISEMENT_PATH))
    bp_advertisement_handle_call (t->adv, call);
  else if (g_str_equal (path, BP_AGENT_PATH))
    bp_agent_handle_call (d->agent, call);
  else
    bp_gatt_handle_call (t->gatt, call);
  /* Nothing waits on the main loop here, but let whatever was queued run. */
  for (guint i = 0; i < 100 && g_main_context_iteration (NULL, FALSE); i++)
    ;

  if (verbose)
    {
      g_autofree char *v = a->value ? g_variant_print (a->value, TRUE) : NULL;
      g_print ("  → %s\n", a->error_name                ? a->error_name :
                           v                            ? v :
                           a->answers == 0 && !no_reply ? "(held)" :
                                                          "(no reply)");
    }
  if (no_reply)
    {
      /* Never answered, whenever it ends. */
      g_assert_cmpuint (a->answers, ==, 0);
      g_free (a);
    }
  else if (a->answers == 0)
    {
      /* Held: only a pairing request from bluetoothd, one per agent. */
      g_assert_true (g_str_equal (path, BP_AGENT_PATH));
      g_assert_false (intruder);
      g_ptr_array_add (t->held, a);
      g_assert_cmpuint (t->held->len, <=, G_N_ELEMENTS (modes));
    }
  else
    {
      check_answer (a, intruder, refused);
      answer_free (a);
    }

  if (action != NULL)
    producer_action (d, action);
  for (guint i = 0; i < 100 && g_main_context_iteration (NULL, FALSE); i++)
    ;
  /* Held requests the call or the action ended: answered once, accepted (no
   * value) or Rejected. */
  for (guint i = 0; i < t->held->len;)
    {
      Answer *h = g_ptr_array_index (t->held, i);

      if (h->answers == 0)
        {
          i++;
          continue;
        }
      g_assert_cmpuint (h->answers, ==, 1);
      g_assert_true (h->error_name != NULL ? g_str_equal (h->error_name, "org.bluez.Error.Rejected") :
                                             g_variant_n_children (h->value) == 0);
      g_ptr_array_remove_index (t->held, i);
      answer_free (h);
    }
  return 0;
}
