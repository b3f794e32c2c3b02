/* The integration-test harness: a private dbus-daemon, the stand-in
 * bluetoothd on it, the real ble-peripheral daemon as a process (its output
 * in the test log; ready when it says READY=1 on NOTIFY_SOCKET, as the
 * Type=notify unit has it, and its control socket accepts), and a raw line
 * client for its control socket written against SPEC §5 (not the client
 * library, which is tested on its own).
 *
 * Every wait is bounded and iterates the thread-default main context, so the
 * stand-in keeps answering the daemon while a test waits. Child processes
 * get SIGKILL when the test process dies (PR_SET_PDEATHSIG), so a failed
 * assertion leaves nothing running. */
#pragma once

#include <gio/gio.h>

#include "fake-bluez.h"

G_BEGIN_DECLS

/* Default bound for a reply, an event or a registration. */
#define BP_WAIT_MS (5000 * bp_wait_scale ())

/* BP_WAIT_SCALE (1 to 20, default 1) multiplies the bounds of the waits: the
 * valgrind suite, whose daemon runs under memcheck, sets it. */
guint bp_wait_scale (void);

/* --- control socket client -------------------------------------------------- */

typedef struct _BpControl BpControl;

BpControl *bp_control_connect (const char *socket_path, GError **error);
void bp_control_free (BpControl *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BpControl, bp_control_free)

/* Sends one request line ("\n" is added). Never blocks the main context. */
gboolean bp_control_send (BpControl *c, const char *line, GError **error);
/* The next line that is not an event (events that arrive meanwhile are
 * queued); NULL on timeout or when the daemon closed the connection. */
char *bp_control_read_reply (BpControl *c, guint timeout_ms);
/* send + read_reply with BP_WAIT_MS. */
char *bp_control_request (BpControl *c, const char *format, ...) G_GNUC_PRINTF (2, 3);
/* The next "event …" line, NULL on timeout or close. */
char *bp_control_next_event (BpControl *c, guint timeout_ms);
/* Skips events until one starts with prefix; NULL when none comes in time. */
char *bp_control_wait_event (BpControl *c, const char *prefix, guint timeout_ms);
guint bp_control_count_events (BpControl *c);
gboolean bp_control_is_closed (BpControl *c);

/* Asserts the reply to the request is "ok" or "ok …" and evaluates to the
 * reply (free it). */
#define bp_assert_request_ok(c, ...) bp_control_assert_ok_ (c, __FILE__, __LINE__, G_STRFUNC, __VA_ARGS__)
char *bp_control_assert_ok_ (BpControl *c, const char *file, int line, const char *func, const char *format, ...)
  G_GNUC_PRINTF (5, 6);

/* --- processes ------------------------------------------------------------- */

typedef struct _BpBus BpBus;

/* A dbus-daemon of its own, listening in dir, allowing everything. */
BpBus *bp_bus_start (const char *dir, GError **error);
const char *bp_bus_get_address (BpBus *bus);
/* SIGSTOP/SIGCONT: a bus that stops reading (a congested way out). */
void bp_bus_send_signal (BpBus *bus, int signum);
void bp_bus_free (BpBus *bus);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BpBus, bp_bus_free)

typedef struct _BpDaemon BpDaemon;

/* The path of the ble-peripheral executable: $BP_DAEMON, else
 * $BP_BUILD_ROOT/src/daemon/ble-peripheral. */
char *bp_daemon_path (void);
/* Runs ble-peripheral args… with DBUS_SYSTEM_BUS_ADDRESS=bus_address (when
 * not NULL); stdout and stderr go into its log and the test log. */
BpDaemon *bp_daemon_spawn (const char *bus_address, const char *const *args, GError **error);
/* Same, with NOTIFY_SOCKET set to a datagram socket at notify_socket_path
 * that receives its sd_notify() messages (READY=1, STATUS=…, STOPPING=1). */
BpDaemon *bp_daemon_spawn_notify (const char *bus_address, const char *const *args, const char *notify_socket_path,
                                  GError **error);
/* TRUE once it said READY=1 and socket_path accepts a connection; FALSE on
 * timeout or exit. Needs bp_daemon_spawn_notify(). */
gboolean bp_daemon_wait_ready (BpDaemon *d, const char *socket_path, guint timeout_ms);
/* Every sd_notify() message so far, one per line. */
const char *bp_daemon_get_notifications (BpDaemon *d);
void bp_daemon_free (BpDaemon *d);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BpDaemon, bp_daemon_free)
/* TRUE once socket_path accepts a connection; FALSE on timeout or exit. */
gboolean bp_daemon_wait_socket (BpDaemon *d, const char *socket_path, guint timeout_ms);
void bp_daemon_send_signal (BpDaemon *d, int signum);
gboolean bp_daemon_has_exited (BpDaemon *d);
/* TRUE when it exited within timeout_ms (then its log is complete). */
gboolean bp_daemon_wait_exit (BpDaemon *d, guint timeout_ms);
/* After it exited: the exit status, or -1 when a signal killed it (then
 * *signum gets the signal). */
int bp_daemon_get_exit_status (BpDaemon *d, int *signum);
/* Everything it printed so far. */
const char *bp_daemon_get_log (BpDaemon *d);
/* TRUE once its output, from offset `from` on, contains needle. */
gboolean bp_daemon_wait_log (BpDaemon *d, gsize from, const char *needle, guint timeout_ms);
gsize bp_daemon_get_log_length (BpDaemon *d);
/* The first whole line of its output, from offset `from` on, that contains
 * needle; NULL when none comes within timeout_ms. */
char *bp_daemon_wait_log_line (BpDaemon *d, gsize from, const char *needle, guint timeout_ms);

/* A short run of ble-peripheral (e.g. --check-config): output and status. */
typedef struct {
  gboolean exited; /* normal exit (else killed by signum) */
  int status;
  int signum;
  gboolean timed_out;
  char *out; /* stdout, NUL-terminated (may hold any bytes) */
  char *err;
} BpRun;

BpRun *bp_run_daemon (const char *const *args, guint timeout_ms);
void bp_run_free (BpRun *run);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BpRun, bp_run_free)

/* --- test cases ------------------------------------------------------------- */

/* g_test_init, and in the parent process non-fatal assertions, so that
 * each case added with bp_test_add() reports on its own. */
void bp_test_init (int *argc, char ***argv);
/* Adds a case that runs in a subprocess of its own (bounded to 60 s): a
 * failure or crash in it does not stop the cases after it. */
void bp_test_add (const char *path, GTestFunc func);

/* --- a whole setup ------------------------------------------------------------ */

typedef enum {
  BP_HARNESS_NONE = 0,
  BP_HARNESS_NO_BLUEZ = 1 << 0,     /* the stand-in is created but not started */
  BP_HARNESS_NO_ADAPTER = 1 << 1,   /* the stand-in starts without hci0 */
  BP_HARNESS_EXPERIMENTAL = 1 << 2, /* bluetoothd -E */
  BP_HARNESS_NO_WAIT = 1 << 3,      /* do not wait for the application to register */
  BP_HARNESS_POWERED_OFF = 1 << 4,  /* the adapter starts off */
  /* Leave AcquireSockets at its default (auto). Without it the harness adds
   * conf.d/00-harness.conf with [Peripheral] AcquireSockets=off, so that
   * the tests of the D-Bus path see every value as PropertiesChanged. */
  BP_HARNESS_ACQUIRE_SOCKETS = 1 << 5,
} BpHarnessFlags;

typedef struct {
  char *dir; /* temporary directory, removed at the end */
  BpBus *bus;
  FakeBluez *bluez;
  BpDaemon *daemon;
  char *config_path; /* dir/ble-peripheral.conf */
  char *socket_path; /* dir/control */
  BpControl *ctl;    /* a connection to the control socket */
  gboolean stopped;  /* the daemon was stopped (and checked) by the test */
} BpHarness;

/* Starts the bus, the stand-in (unless NO_BLUEZ), and the daemon on a
 * configuration file holding config_text; waits for its control socket and
 * connects to it; unless NO_WAIT (or without the stand-in or adapter),
 * waits for the application to be registered. Asserts each step. */
BpHarness *bp_harness_new (const char *config_text, BpHarnessFlags flags);
/* Same, with extra daemon arguments. */
BpHarness *bp_harness_new_full (const char *config_text, BpHarnessFlags flags, const char *const *extra_args);
/* The same with the stand-in playing that BlueZ version (fake_bluez_set_version). */
BpHarness *bp_harness_new_version (const char *config_text, BpHarnessFlags flags, guint bluez_version);
/* Stops the daemon with SIGTERM if it runs, asserting it exits 0 in time;
 * then the stand-in and the bus; removes the directory. */
void bp_harness_free (BpHarness *h);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BpHarness, bp_harness_free)

/* Replaces the configuration file (before a SIGHUP). */
void bp_harness_write_config (BpHarness *h, const char *config_text);
/* Another connection to the control socket. */
BpControl *bp_harness_connect (BpHarness *h);
/* SIGTERM, then asserts a clean exit (status 0) within 10 s. */
void bp_harness_stop_daemon (BpHarness *h);

/* Waits for an ACTIVE application / advertisement newer than `after`
 * (a serial, 0 for any) and returns it, NULL on timeout. */
FakeApplication *bp_harness_wait_application (BpHarness *h, guint after, guint timeout_ms);
FakeAdvertisement *bp_harness_wait_advertisement (BpHarness *h, guint after, guint timeout_ms);

/* Asserts that bluetoothd refused none of the daemon's registrations, and
 * names each refusal (D-Bus error) when it did. AlreadyExists, which the
 * daemon takes for success, is only logged. */
void bp_harness_assert_no_refusals (BpHarness *h);

/* The path of the characteristic with that UUID in the active application;
 * asserts it exists. */
const char *bp_harness_characteristic_path (BpHarness *h, const char *uuid);

/* The value of key in a "status" reply ("ok adapter=hci0 … env/x.notify=3"),
 * NULL when it has no such key. */
char *bp_status_get (const char *status, const char *key);
/* Asks "status" on c and returns the value of key (asserts a reply). */
char *bp_control_status (BpControl *c, const char *key);

/* Asks "status" until key has value (every 20 ms, for states that have no
 * event of their own); FALSE when it does not within timeout_ms. */
gboolean bp_control_wait_status (BpControl *c, const char *key, const char *value, guint timeout_ms);

/* Hex of bytes, lower case, for comparing with control-socket replies. */
char *bp_hex (const void *data, gsize len);
char *bp_hex_bytes (GBytes *bytes);

G_END_DECLS
