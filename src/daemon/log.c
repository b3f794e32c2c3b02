#define G_LOG_DOMAIN "log"

#include "build-config.h"

#include "daemon/log.h"

#include <stdarg.h>
#include <time.h>
#include <unistd.h>

static gboolean log_initialized;
static gboolean log_verbose;
static gboolean log_journal;
static GLogWriterFunc journal_writer = g_log_writer_journald;
static gpointer journal_writer_data;
static FILE *plain_stream;
static gboolean log_uptime;

static const char *
field (const GLogField *fields, gsize n, const char *key)
{
  for (gsize i = 0; i < n; i++)
    if (g_strcmp0 (fields[i].key, key) == 0 && fields[i].length < 0)
      return fields[i].value;
  return NULL;
}

static gboolean
level_enabled (GLogLevelFlags level)
{
  return log_verbose || !(level & (G_LOG_LEVEL_DEBUG | G_LOG_LEVEL_INFO));
}

static GLogWriterOutput
writer (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
  FILE *out = plain_stream ? plain_stream : stderr;
  const char *domain, *message;
  const char *prefix = "";

  if (!level_enabled (level))
    return G_LOG_WRITER_HANDLED;
  /* Every field goes to the journal as is; should journald be gone, the
   * line still reaches stderr. */
  if (log_journal && journal_writer (level, fields, n_fields, journal_writer_data) == G_LOG_WRITER_HANDLED)
    return G_LOG_WRITER_HANDLED;

  domain = field (fields, n_fields, "GLIB_DOMAIN");
  message = field (fields, n_fields, "MESSAGE");
  if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL))
    prefix = "error: ";
  else if (level & G_LOG_LEVEL_WARNING)
    prefix = "warning: ";
  else if (level & G_LOG_LEVEL_DEBUG)
    prefix = "debug: ";
  if (log_uptime)
    {
      /* Seconds since boot, as the kernel's own log and btmon count them:
       * the daemon's lines then sit among theirs. */
      struct timespec ts;

      clock_gettime (CLOCK_BOOTTIME, &ts);
      fprintf (out, "[%5lld.%03ld] ", (long long) ts.tv_sec, ts.tv_nsec / 1000000);
    }
  fprintf (out, "ble-peripheral[%s]: %s%s\n", domain ? domain : "main", prefix, message ? message : "");
  fflush (out);
  return G_LOG_WRITER_HANDLED;
}

void
bp_log_init (gboolean verbose)
{
  log_verbose = verbose || g_getenv ("G_MESSAGES_DEBUG") != NULL;
  log_journal = g_log_writer_is_journald (fileno (stderr));
  log_uptime = g_strcmp0 (g_getenv ("BLE_PERIPHERAL_LOG_UPTIME"), "1") == 0;
  if (!log_initialized)
    g_log_set_writer_func (writer, NULL, NULL);
  log_initialized = TRUE;
}

void
bp_log_set_test_sinks (GLogWriterFunc func, gpointer user_data, FILE *stream)
{
  log_journal = func != NULL;
  journal_writer = func ? func : g_log_writer_journald;
  journal_writer_data = user_data;
  plain_stream = stream;
}

/* syslog priorities, as GLib maps its levels. */
static const char *
level_priority (GLogLevelFlags level)
{
  if (level & G_LOG_LEVEL_ERROR)
    return "3";
  if (level & (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING))
    return "4";
  if (level & G_LOG_LEVEL_MESSAGE)
    return "5";
  if (level & G_LOG_LEVEL_INFO)
    return "6";
  return "7";
}

void
bp_log_with_field (const char *domain, GLogLevelFlags level, const char *key, const char *value, const char *file,
                   const char *line, const char *func, const char *format, ...)
{
  g_autofree char *message = NULL;
  GLogField fields[7];
  gsize n = 0;
  va_list args;

  /* Skip the formatting of what the writer drops. Before bp_log_init
   * (unit tests) GLib's own writer decides. */
  if (log_initialized && !level_enabled (level))
    return;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);

  fields[n++] = (GLogField) { "MESSAGE", message, -1 };
  fields[n++] = (GLogField) { "PRIORITY", level_priority (level), -1 };
  if (domain != NULL)
    fields[n++] = (GLogField) { "GLIB_DOMAIN", domain, -1 };
  fields[n++] = (GLogField) { "CODE_FILE", file, -1 };
  fields[n++] = (GLogField) { "CODE_LINE", line, -1 };
  fields[n++] = (GLogField) { "CODE_FUNC", func, -1 };
  if (value != NULL)
    fields[n++] = (GLogField) { key, value, -1 };
  g_log_structured_array (level, fields, n);
}
