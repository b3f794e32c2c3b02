#define G_LOG_DOMAIN "log"

#include "config.h"

#include "daemon/log.h"

#include <stdio.h>
#include <unistd.h>

static gboolean log_verbose;
static gboolean log_journal;

static const char *
field (const GLogField *fields, gsize n, const char *key)
{
  for (gsize i = 0; i < n; i++)
    if (g_strcmp0 (fields[i].key, key) == 0 && fields[i].length < 0)
      return fields[i].value;
  return NULL;
}

static GLogWriterOutput
writer (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
  const char *domain, *message;
  const char *prefix = "";

  if (!log_verbose && (level & (G_LOG_LEVEL_DEBUG | G_LOG_LEVEL_INFO)))
    return G_LOG_WRITER_HANDLED;
  if (log_journal && g_log_writer_journald (level, fields, n_fields, user_data) == G_LOG_WRITER_HANDLED)
    return G_LOG_WRITER_HANDLED;

  domain = field (fields, n_fields, "GLIB_DOMAIN");
  message = field (fields, n_fields, "MESSAGE");
  if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL))
    prefix = "error: ";
  else if (level & G_LOG_LEVEL_WARNING)
    prefix = "warning: ";
  else if (level & G_LOG_LEVEL_DEBUG)
    prefix = "debug: ";
  fprintf (stderr, "ble-peripheral[%s]: %s%s\n", domain ? domain : "main", prefix,
           message ? message : "");
  fflush (stderr);
  return G_LOG_WRITER_HANDLED;
}

void
bp_log_init (gboolean verbose)
{
  log_verbose = verbose || g_getenv ("G_MESSAGES_DEBUG") != NULL;
  log_journal = g_log_writer_is_journald (fileno (stderr));
  g_log_set_writer_func (writer, NULL, NULL);
}
