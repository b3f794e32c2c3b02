/* The stand-in's AgentManager1 and its calls on agents, as bluetoothd 5.66
 * does them (src/agent.c, src/device.c): one agent per bus name; the first
 * one registered becomes the default, RequestDefaultAgent puts an agent at
 * the head of the default queue, and when the default leaves the next one
 * takes over. Setting or clearing the default agent sets the adapter's IO
 * capability, which turns it bondable (Pairable) on or off. Only the
 * default agent is asked about incoming pairings; DisplayPasskey and Cancel
 * expect no reply. */
#include "fake-bluez-private.h"

#define ERROR_ALREADY_EXISTS "org.bluez.Error.AlreadyExists"
#define ERROR_DOES_NOT_EXIST "org.bluez.Error.DoesNotExist"
#define ERROR_INVALID_ARGS "org.bluez.Error.InvalidArguments"
#define IFACE_AGENT "org.bluez.Agent1"
/* bluetoothd waits this long for an agent's reply (the kernel gives up after 30 s). */
#define AGENT_TIMEOUT_MS 60000

static const char *const capabilities[] = { "DisplayOnly",     "DisplayYesNo",    "KeyboardOnly",
                                            "NoInputNoOutput", "KeyboardDisplay", NULL };

void
fake_agent_free (FakeAgent *agent)
{
  if (agent == NULL)
    return;
  g_free (agent->sender);
  g_free (agent->path);
  g_free (agent->capability);
  g_free (agent);
}

static FakeAgent *
agent_of (FakeBluez *fb, const char *sender)
{
  for (guint i = 0; i < fb->agents->len; i++)
    {
      FakeAgent *a = g_ptr_array_index (fb->agents, i);
      if (g_strcmp0 (a->sender, sender) == 0)
        return a;
    }
  return NULL;
}

/* fb->agents keeps bluetoothd's default queue order: the head is the default. */
static void
set_default (FakeBluez *fb, FakeAgent *agent)
{
  gboolean pairable = agent != NULL;

  fb->default_agent = agent;
  if (fb->pairable != pairable)
    {
      fb->pairable = pairable;
      if (fake_bluez_has_adapter (fb))
        fake_bluez_emit_adapter_property (fb, "Pairable", g_variant_new_boolean (pairable));
    }
}

static void
remove_agent (FakeBluez *fb, FakeAgent *agent)
{
  gboolean was_default = fb->default_agent == agent;

  g_ptr_array_remove (fb->agents, agent);
  if (was_default)
    set_default (fb, fb->agents->len > 0 ? g_ptr_array_index (fb->agents, 0) : NULL);
}

void
fake_bluez_handle_agent_manager (FakeBluez *fb, const char *sender, const char *method, GVariant *params,
                                 GDBusMethodInvocation *invocation)
{
  FakeAgent *agent = agent_of (fb, sender);
  const char *path = NULL;

  g_variant_get_child (params, 0, "&o", &path);
  if (g_strcmp0 (method, "RegisterAgent") == 0)
    {
      const char *cap = NULL;

      g_variant_get_child (params, 1, "&s", &cap);
      if (agent != NULL)
        {
          g_dbus_method_invocation_return_dbus_error (invocation, ERROR_ALREADY_EXISTS, "Already Exists");
          return;
        }
      if (*cap != '\0' && !g_strv_contains (capabilities, cap))
        {
          g_dbus_method_invocation_return_dbus_error (invocation, ERROR_INVALID_ARGS,
                                                      "Invalid arguments in method call");
          return;
        }
      agent = g_new0 (FakeAgent, 1);
      agent->sender = g_strdup (sender);
      agent->path = g_strdup (path);
      agent->capability = g_strdup (*cap != '\0' ? cap : "KeyboardDisplay");
      g_ptr_array_add (fb->agents, agent);
      fake_bluez_ensure_watch (fb, sender);
      if (fb->default_agent == NULL)
        set_default (fb, agent);
      g_dbus_method_invocation_return_value (invocation, NULL);
      return;
    }
  if (agent == NULL || g_strcmp0 (agent->path, path) != 0)
    {
      g_dbus_method_invocation_return_dbus_error (invocation, ERROR_DOES_NOT_EXIST, "Does Not Exist");
      return;
    }
  if (g_strcmp0 (method, "UnregisterAgent") == 0)
    remove_agent (fb, agent);
  else if (g_strcmp0 (method, "RequestDefaultAgent") == 0)
    {
      /* To the head of the queue. */
      guint index = 0;

      g_ptr_array_find (fb->agents, agent, &index);
      g_ptr_array_steal_index (fb->agents, index);
      g_ptr_array_insert (fb->agents, 0, agent);
      set_default (fb, agent);
    }
  g_dbus_method_invocation_return_value (invocation, NULL);
}

void
fake_bluez_agents_vanished (FakeBluez *fb, const char *sender)
{
  if (sender == NULL)
    {
      fb->default_agent = NULL;
      g_ptr_array_set_size (fb->agents, 0);
      return;
    }
  for (FakeAgent *a; (a = agent_of (fb, sender)) != NULL;)
    remove_agent (fb, a);
}

const char *
fake_bluez_get_default_agent (FakeBluez *fb, const char **path, const char **capability)
{
  FakeAgent *a = fb->default_agent;

  if (path != NULL)
    *path = a != NULL ? a->path : NULL;
  if (capability != NULL)
    *capability = a != NULL ? a->capability : NULL;
  return a != NULL ? a->sender : NULL;
}

guint
fake_bluez_count_agents (FakeBluez *fb)
{
  return fb->agents->len;
}

gboolean
fake_bluez_get_pairable (FakeBluez *fb)
{
  return fb->pairable;
}

guint32
fake_bluez_get_pairable_timeout (FakeBluez *fb)
{
  return fb->pairable_timeout;
}

void
fake_bluez_set_device_bonded (FakeBluez *fb, const char *device_path, gboolean bonded)
{
  FakeDevice *d = fake_bluez_find_device (fb, device_path);
  GVariantBuilder b;

  g_return_if_fail (d != NULL);
  d->paired = d->bonded = bonded;
  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "Paired", g_variant_new_boolean (bonded));
  g_variant_builder_add (&b, "{sv}", "Bonded", g_variant_new_boolean (bonded));
  fake_bluez_emit_properties_changed (fb, device_path, IFACE_DEVICE, g_variant_builder_end (&b));
}

gboolean
fake_bluez_device_is_bonded (FakeBluez *fb, const char *device_path)
{
  FakeDevice *d = fake_bluez_find_device (fb, device_path);
  return d != NULL && d->bonded;
}

FakeRequest *
fake_bluez_agent_request_begin (FakeBluez *fb, const char *method, const char *device_path, guint32 passkey)
{
  FakeAgent *a = fb->default_agent;
  GVariant *params;

  if (g_strcmp0 (method, "RequestConfirmation") == 0)
    params = g_variant_new ("(ou)", device_path, passkey);
  else
    params = g_variant_new ("(o)", device_path);
  if (a == NULL)
    {
      /* "No agent available for request type N": nothing is sent. The call
       * goes to a name nobody owns, so that it fails at once. */
      g_variant_unref (g_variant_ref_sink (params));
      return fake_bluez_call_begin (fb, "org.bleperipheral.NoAgent", "/", IFACE_AGENT, method, NULL, NULL, 1000);
    }
  return fake_bluez_call_begin (
    fb, a->sender, a->path, IFACE_AGENT, method, params,
    g_strcmp0 (method, "RequestPasskey") == 0 ? G_VARIANT_TYPE ("(u)") : G_VARIANT_TYPE ("()"), AGENT_TIMEOUT_MS);
}

gboolean
fake_request_finish_agent (FakeRequest *req, GError **error)
{
  g_autoptr (GVariant) reply = fake_request_finish (req, error);
  return reply != NULL;
}

gboolean
fake_bluez_agent_display_passkey (FakeBluez *fb, const char *device_path, guint32 passkey, guint16 entered)
{
  FakeAgent *a = fb->default_agent;

  if (a == NULL)
    return FALSE;
  fake_bluez_send_no_reply (fb, a->sender, a->path, IFACE_AGENT, "DisplayPasskey",
                            g_variant_new ("(ouq)", device_path, passkey, entered));
  return TRUE;
}

gboolean
fake_bluez_agent_cancel (FakeBluez *fb)
{
  FakeAgent *a = fb->default_agent;

  if (a == NULL)
    return FALSE;
  fake_bluez_send_no_reply (fb, a->sender, a->path, IFACE_AGENT, "Cancel", NULL);
  return TRUE;
}

gboolean
fake_bluez_pair (FakeBluez *fb, const char *device_path, const char *method, guint32 passkey, GError **error)
{
  if (!fake_request_finish_agent (fake_bluez_agent_request_begin (fb, method, device_path, passkey), error))
    return FALSE;
  fake_bluez_set_device_bonded (fb, device_path, TRUE);
  return TRUE;
}
