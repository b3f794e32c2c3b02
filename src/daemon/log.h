/* Logging: structured records to the journal when stderr is the journal,
 * plain lines on stderr otherwise. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* verbose: also g_info and g_debug records. */
void bp_log_init (gboolean verbose);

G_END_DECLS
