/* main() for fuzz targets built without libFuzzer: replays every file of the
 * folders (or the files) named on the command line through the target, so
 * that the corpus runs as an ordinary test. A crash, an ASan report or a
 * failed check fails the test. */
#define G_LOG_DOMAIN "fuzz-replay"

#include "build-config.h"

#include "fuzz.h"

#include <glib.h>

static gboolean
replay_file (const char *path)
{
  g_autofree char *data = NULL;
  g_autoptr (GError) error = NULL;
  gsize len = 0;

  if (!g_file_get_contents (path, &data, &len, &error))
    {
      g_printerr ("%s\n", error->message);
      return FALSE;
    }
  g_print ("%s: %" G_GSIZE_FORMAT " bytes\n", path, len);
  LLVMFuzzerTestOneInput ((const uint8_t *) data, len);
  return TRUE;
}

static gint
compare_paths (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(const char *const *) a, *(const char *const *) b);
}

static gboolean
replay (const char *path, guint *count)
{
  g_autoptr (GDir) dir = NULL;
  g_autoptr (GPtrArray) names = NULL;
  const char *name;

  if (!g_file_test (path, G_FILE_TEST_IS_DIR))
    {
      (*count)++;
      return replay_file (path);
    }
  dir = g_dir_open (path, 0, NULL);
  if (dir == NULL)
    return FALSE;
  names = g_ptr_array_new_with_free_func (g_free);
  while ((name = g_dir_read_name (dir)) != NULL)
    g_ptr_array_add (names, g_build_filename (path, name, NULL));
  g_ptr_array_sort (names, compare_paths);
  for (guint i = 0; i < names->len; i++)
    if (!replay (g_ptr_array_index (names, i), count))
      return FALSE;
  return TRUE;
}

int
main (int argc, char **argv)
{
  guint count = 0;

  if (argc < 2)
    {
      g_printerr ("usage: %s CORPUS-FOLDER|FILE…\n", argv[0]);
      return 2;
    }
  for (int i = 1; i < argc; i++)
    if (!replay (argv[i], &count))
      return 1;
  if (count == 0)
    {
      g_printerr ("no corpus files found\n");
      return 1;
    }
  g_print ("%u inputs replayed\n", count);
  return 0;
}
