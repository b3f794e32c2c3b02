/* ble-peripheral: options, logging, signals, systemd, the main loop. */
#define G_LOG_DOMAIN "main"

#include "build-config.h"

#include <glib-unix.h>
#include <glib/gstdio.h>
#include <locale.h>
#include <stdio.h>

#include "daemon/agent.h"
#include "daemon/advertising.h"
#include "daemon/bluez.h"
#include "daemon/config.h"
#include "daemon/control.h"
#include "daemon/gatt.h"
#include "daemon/handoff.h"
#include "daemon/log.h"
#include "daemon/peripheral.h"
#include "daemon/service.h"

typedef struct {
  GMainLoop *loop;
  char *config_path;
  gboolean config_explicit;
  BpPeripheral *p;
  BpGatt *gatt;
  BpAdvertisement *adv;
  BpBluez *bluez;
  BpAgent *agent;
  BpControl *control;
  char *handoff_path;
  int exit_code;
} Daemon;

static BpConfig *
load_config (Daemon *d, GError **error)
{
  return bp_config_load (d->config_path, !d->config_explicit, error);
}

static void
update_status (BpBluez *bluez, gpointer user_data)
{
  g_autofree char *text = bp_bluez_status_text (bluez);
  bp_service_status (text);
}

static gboolean
on_sighup (gpointer user_data)
{
  Daemon *d = user_data;
  g_autoptr (GError) error = NULL;
  BpConfig *config;

  bp_service_reloading ();
  g_message ("SIGHUP: reloading %s", d->config_path);
  config = load_config (d, &error);
  if (config == NULL)
    {
      g_warning ("reload failed, keeping the running configuration: %s", error->message);
    }
  else
    {
      g_message ("reloaded: %s", config->source);
      for (guint i = 0; i < config->warnings->len; i++)
        g_warning ("%s", (const char *) g_ptr_array_index (config->warnings, i));
      bp_peripheral_reconfigure (d->p, config);
      bp_bluez_reload (d->bluez);
    }
  bp_service_ready ();
  return G_SOURCE_CONTINUE;
}

static gboolean
shutdown_done (gpointer user_data)
{
  Daemon *d = user_data;

  g_main_loop_quit (d->loop);
  return G_SOURCE_REMOVE;
}

static gboolean
on_sigterm (gpointer user_data)
{
  Daemon *d = user_data;
  static gboolean stopping;

  if (stopping)
    return G_SOURCE_CONTINUE;
  stopping = TRUE;
  g_message ("stopping");
  bp_service_stopping ();
  bp_bluez_shutdown (d->bluez, shutdown_done, d);
  return G_SOURCE_CONTINUE;
}

/* The system bus went away (dbus-daemon stopped or restarted). The daemon
 * cannot get it back: bluetoothd will know a new connection only, and
 * everything registered on the old one is gone. It saves what it had
 * acknowledged for the next start, and exits non-zero so that systemd
 * (Restart=on-failure) starts it again on the new bus. */
static void
on_bus_closed (GDBusConnection *conn, gboolean remote_peer_vanished, GError *cause, gpointer user_data)
{
  Daemon *d = user_data;
  g_autoptr (GError) error = NULL;
  guint n_values = 0, n_writes = 0;

  if (d->exit_code != 0)
    return;
  d->exit_code = 1;
  if (bp_handoff_save (d->p, d->handoff_path, &n_values, &n_writes, &error))
    g_warning (
      "lost the system bus (%s): saved %u values and %u captured writes to %s for the next start; "
      "exiting with status 1 so that the service manager restarts the daemon",
      cause ? cause->message : "closed", n_values, n_writes, d->handoff_path);
  else
    g_warning (
      "lost the system bus (%s), and %s: the stored values and captured writes are lost; "
      "exiting with status 1 so that the service manager restarts the daemon",
      cause ? cause->message : "closed", error->message);
  bp_service_stopping ();
  g_main_loop_quit (d->loop);
}

/* Takes back what a daemon that lost the bus saved (on_bus_closed). */
static void
restore_handoff (Daemon *d)
{
  g_autoptr (GError) error = NULL;
  guint n_values = 0, n_writes = 0;

  if (!bp_handoff_restore (d->p, d->handoff_path, &n_values, &n_writes, &error))
    {
      g_autofree char *aside = g_strconcat (d->handoff_path, ".rejected", NULL);

      g_warning ("%s; moved to %s", error->message, aside);
      g_rename (d->handoff_path, aside);
    }
  else if (n_values > 0 || n_writes > 0)
    g_message ("restored %u values and %u captured writes from %s", n_values, n_writes, d->handoff_path);
}

static char *
socket_path (const char *option, const BpConfig *config)
{
  const char *runtime = g_getenv ("RUNTIME_DIRECTORY");

  if (option != NULL)
    return g_strdup (option);
  if (config->control.socket_path != NULL)
    return g_strdup (config->control.socket_path);
  if (runtime != NULL && *runtime != '\0')
    {
      /* RuntimeDirectory= may list several, separated by ':'. */
      g_auto (GStrv) dirs = g_strsplit (runtime, ":", 2);
      return g_build_filename (dirs[0], "control", NULL);
    }
  return g_strdup (DEFAULT_SOCKET);
}

int
main (int argc, char **argv)
{
  g_autofree char *config_path = NULL;
  g_autofree char *socket_opt = NULL;
  g_autofree char *adapter = NULL;
  g_autofree char *sock = NULL;
  gboolean check_config = FALSE, verbose = FALSE, version = FALSE;
  GOptionEntry entries[] = {
    { "config", 'c', 0, G_OPTION_ARG_FILENAME, &config_path, "Configuration file (default " DEFAULT_CONFIG ")",
      "FILE" },
    { "socket", 's', 0, G_OPTION_ARG_FILENAME, &socket_opt,
      "Control socket (default $RUNTIME_DIRECTORY/control, else " DEFAULT_SOCKET ")", "PATH" },
    { "adapter", 'a', 0, G_OPTION_ARG_STRING, &adapter, "Adapter to use: hciN or its address", "ADAPTER" },
    { "check-config", 0, 0, G_OPTION_ARG_NONE, &check_config,
      "Validate the configuration, print the resolved database and advertisement, exit", NULL },
    { "verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, "Log informational and debug messages", NULL },
    { "version", 'V', 0, G_OPTION_ARG_NONE, &version, "Print the version and exit", NULL },
    { NULL, 0, 0, 0, NULL, NULL, NULL }
  };
  g_autoptr (GOptionContext) ctx = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GDBusConnection) conn = NULL;
  int listen_fd;
  BpConfig *config;
  Daemon d = { 0 };

  setlocale (LC_ALL, "");
  ctx = g_option_context_new ("- Bluetooth LE peripheral daemon");
  g_option_context_set_summary (ctx,
                                "Publishes the GATT services and advertising of a configuration file through\n"
                                "bluetoothd, and lets local programs push values and hear the centrals' writes\n"
                                "over a Unix socket (see ble-peripheralctl(1) and ble-peripheral.conf(5)).");
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    {
      fprintf (stderr, "ble-peripheral: %s (try --help)\n", error->message);
      return 2;
    }
  if (argc > 1)
    {
      fprintf (stderr, "ble-peripheral: unexpected argument \"%s\" (try --help)\n", argv[1]);
      return 2;
    }
  if (version)
    {
      printf ("ble-peripheral %s\n", PACKAGE_VERSION);
      return 0;
    }

  bp_log_init (verbose);
  d.config_explicit = config_path != NULL;
  d.config_path = config_path ? g_strdup (config_path) : g_strdup (DEFAULT_CONFIG);

  config = load_config (&d, &error);
  if (config == NULL)
    {
      fprintf (stderr, "ble-peripheral: %s\n", error->message);
      g_free (d.config_path);
      return 1;
    }
  if (check_config)
    {
      g_autofree char *text = bp_config_describe (config);
      for (guint i = 0; i < config->warnings->len; i++)
        fprintf (stderr, "ble-peripheral: warning: %s\n", (const char *) g_ptr_array_index (config->warnings, i));
      fputs (text, stdout);
      bp_config_free (config);
      g_free (d.config_path);
      return 0;
    }
  if (config->is_default)
    g_message ("no configuration at %s: serving the built-in Environmental Sensing example", d.config_path);
  else
    g_message ("configuration: %s", config->source);
  for (guint i = 0; i < config->warnings->len; i++)
    g_warning ("%s", (const char *) g_ptr_array_index (config->warnings, i));

  /* Before the bus connection starts GDBus's threads: taking a passed
   * socket clears LISTEN_* from the environment, which is not thread-safe. */
  listen_fd = bp_service_listen_fd ();
  conn = g_bus_get_sync (G_BUS_TYPE_SYSTEM, NULL, &error);
  if (conn == NULL)
    {
      g_printerr ("ble-peripheral: cannot connect to the system bus: %s\n", error->message);
      bp_config_free (config);
      g_free (d.config_path);
      return 1;
    }
  /* SIGTERM unregisters first; the bus going away must not kill us mid-way. */
  g_dbus_connection_set_exit_on_close (conn, FALSE);

  sock = socket_path (socket_opt, config);
  d.loop = g_main_loop_new (NULL, FALSE);
  /* Before anything can be asked of us: a signal must never kill the daemon
   * half-way through its start. */
  g_unix_signal_add (SIGTERM, on_sigterm, &d);
  g_unix_signal_add (SIGINT, on_sigterm, &d);
  g_unix_signal_add (SIGHUP, on_sighup, &d);

  d.p = bp_peripheral_new (config);
  d.handoff_path = bp_handoff_path (sock);
  restore_handoff (&d);
  d.gatt = bp_gatt_new (conn, d.p, &error);
  if (d.gatt == NULL)
    {
      g_printerr ("ble-peripheral: exporting the GATT application: %s\n", error->message);
      return 1;
    }
  d.adv = bp_advertisement_new (conn, bp_peripheral_get_config (d.p), NULL, NULL, &error);
  if (d.adv == NULL)
    {
      g_printerr ("ble-peripheral: exporting the advertisement: %s\n", error->message);
      return 1;
    }
  d.control = bp_control_new (d.p, sock, config->control.mode, config->control.group, listen_fd, &error);
  if (d.control == NULL)
    {
      g_printerr ("ble-peripheral: control socket: %s\n", error->message);
      return 1;
    }
  d.agent = bp_agent_new (conn, d.p, &error);
  if (d.agent == NULL)
    {
      g_printerr ("ble-peripheral: exporting the pairing agent: %s\n", error->message);
      return 1;
    }
  d.bluez = bp_bluez_new (conn, d.p, d.gatt, d.adv, adapter);
  g_signal_connect (conn, "closed", G_CALLBACK (on_bus_closed), &d);
  bp_bluez_set_status_func (d.bluez, update_status, &d);

  g_message ("ble-peripheral %s: control socket %s", PACKAGE_VERSION, sock);
  bp_service_ready ();
  bp_service_start_watchdog ();
  g_main_loop_run (d.loop);

  if (!g_dbus_connection_is_closed (conn))
    g_dbus_connection_flush_sync (conn, NULL, NULL);
  g_signal_handlers_disconnect_by_func (conn, on_bus_closed, &d);
  bp_control_free (d.control);
  bp_bluez_free (d.bluez);
  bp_agent_free (d.agent);
  bp_advertisement_free (d.adv);
  bp_gatt_free (d.gatt);
  bp_peripheral_free (d.p);
  g_main_loop_unref (d.loop);
  g_free (d.config_path);
  g_free (d.handoff_path);
  g_message ("stopped");
  return d.exit_code;
}
