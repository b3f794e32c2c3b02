/* `ble-peripheral --check-config --config FILE` on good, truncated and
 * garbage files: exit 0 with the resolved database, or exit 1 with a
 * message that names the file; never a crash, never a hang. */
#define G_LOG_DOMAIN "test-check-config"

#include <glib/gstdio.h>
#include <string.h>

#include "harness.h"

#define FILE_NAME "ble-peripheral.conf"

/* Every group and most keys, so that truncations cut everywhere. */
static const char full_config[] =
  "# A configuration that uses every group\n"
  "[Peripheral]\n"
  "Name=camera-1\n"
  "Adapter=hci0\n"
  "MaxConnections=2\n"
  "PowerOn=true\n"
  "\n"
  "[Advertising]\n"
  "Enabled=true\n"
  "IntervalMin=100ms\n"
  "IntervalMax=200ms\n"
  "Services=env\n"
  "Appearance=0x0540\n"
  "ManufacturerData=0xffff:0102\n"
  "Discoverable=true\n"
  "Timeout=0\n"
  "\n"
  "[Control]\n"
  "Mode=0660\n"
  "\n"
  "[Service env]\n"
  "UUID=0x181A\n"
  "Primary=true\n"
  "\n"
  "[Characteristic env/temperature]\n"
  "UUID=0x2A6E\n"
  "Flags=read,notify\n"
  "Format=sint16\n"
  "Exponent=-2\n"
  "Unit=0x272F\n"
  "Description=Outdoor temperature\n"
  "Initial=21.5\n"
  "MinReadInterval=100ms\n"
  "NotifyOnSubscribe=true\n"
  "\n"
  "[Characteristic env/command]\n"
  "UUID=12345678-1234-5678-1234-56789abcdef0\n"
  "Flags=write\n"
  "Capture=true\n"
  "QueueLength=16\n"
  "MaxLength=64\n"
  "\n"
  "[Characteristic env/log]\n"
  "UUID=12345678-1234-5678-1234-56789abcdef1\n"
  "Flags=read,write\n"
  "Append=true\n"
  "MaxLength=200\n"
  "\n"
  "[Characteristic env/snapshot]\n"
  "UUID=12345678-1234-5678-1234-56789abcdef2\n"
  "Flags=read\n"
  "ReadHandler=socket\n"
  "ReadTimeout=1s\n"
  "\n"
  "[Descriptor env/temperature/range]\n"
  "UUID=0x2906\n"
  "Flags=read\n"
  "Value=\"\\x0a\\x14\"\n";

typedef struct {
  char *dir;
  char *path;
} Files;

static void
files_init (Files *f)
{
  g_autoptr (GError) error = NULL;

  f->dir = g_dir_make_tmp ("bp-check-XXXXXX", &error);
  g_assert_no_error (error);
  f->path = g_build_filename (f->dir, FILE_NAME, NULL);
}

static void
files_clear (Files *f)
{
  g_unlink (f->path);
  g_rmdir (f->dir);
  g_free (f->path);
  g_free (f->dir);
}

static BpRun *
check (Files *f, const void *data, gsize len)
{
  const char *args[] = { "--check-config", "--config", f->path, NULL };
  g_autoptr (GError) error = NULL;

  g_file_set_contents (f->path, data, len, &error);
  g_assert_no_error (error);
  return bp_run_daemon (args, 10000);
}

/* Exit 0, or exit 1 with a message naming the file; anything else fails and
 * shows the input. */
static void
assert_handled (BpRun *run, const void *data, gsize len, const char *what)
{
  if (run->timed_out || !run->exited || (run->status != 0 && run->status != 1) ||
      (run->status == 1 && strstr (run->err, FILE_NAME) == NULL))
    {
      g_autofree char *head = g_strndup (data, MIN (len, (gsize) 2000));
      g_autofree char *shown = g_strescape (head, NULL);
      g_error ("%s: %s (status %d, signal %d)\n--- input (%" G_GSIZE_FORMAT " bytes) ---\n%s\n--- stderr ---\n%s", what,
               run->timed_out ? "timed out" :
               !run->exited   ? "killed by a signal" :
                                "bad exit or message",
               run->status, run->signum, len, shown, run->err);
    }
}

static void
test_good (void)
{
  Files f;
  g_autoptr (BpRun) run = NULL;
  g_autofree char *lower = NULL;

  files_init (&f);
  run = check (&f, full_config, strlen (full_config));
  g_test_message ("%s", run->out);
  if (!run->exited || run->status != 0)
    g_error ("the full configuration is refused: %s", run->err);
  lower = g_ascii_strdown (run->out, -1);
  g_assert_nonnull (strstr (lower, "env/temperature"));
  g_assert_nonnull (strstr (lower, "env/command"));
  g_assert_nonnull (strstr (lower, "env/snapshot"));
  g_assert_nonnull (strstr (lower, "181a"));
  g_assert_nonnull (strstr (lower, "2a6e"));
  files_clear (&f);
}

/* The shipped default configuration. */
static void
test_default_file (void)
{
  const char *root = g_getenv ("BP_SOURCE_ROOT");
  g_autofree char *path = NULL;
  g_autofree char *text = NULL;
  g_autofree char *lower = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (BpRun) run = NULL;
  gsize len;
  Files f;

  if (root == NULL)
    {
      g_test_skip ("BP_SOURCE_ROOT is not set");
      return;
    }
  path = g_build_filename (root, "conf", FILE_NAME, NULL);
  g_file_get_contents (path, &text, &len, &error);
  g_assert_no_error (error);
  files_init (&f);
  run = check (&f, text, len);
  g_test_message ("%s", run->out);
  g_assert_true (run->exited);
  g_assert_cmpint (run->status, ==, 0);
  lower = g_ascii_strdown (run->out, -1);
  g_assert_nonnull (strstr (lower, "env/temperature"));
  g_assert_nonnull (strstr (lower, "env/humidity"));
  g_assert_nonnull (strstr (lower, "181a"));
  files_clear (&f);
}

static void
test_known_errors (void)
{
  const struct {
    const char *text;
    const char *words[3];
  } cases[] = {
    { "[Service s]\nUUID=0xFFF0\n[Characteristic s/c]\nUUID=0xFFF1\nFlags=read\nMaxLength=600\n",
      { "MaxLength", "600", NULL } },
    { "[Service s]\nUUID=0xFFF0\n[Characteristic s/c]\nUUID=0xFFF1\nFlags=read,shout\n", { "Flags", "shout", NULL } },
    { "[Service s]\nUUID=0xFFF0\n[Characteristic s/c]\nUUID=0xFFF1\nFlags=read\nColour=blue\n",
      { "Colour", NULL, NULL } },
    { "[Servise s]\nUUID=0xFFF0\n", { "Servise", NULL, NULL } },
    { "[Service s]\nUUID=0xFFF0\n[Characteristic s/c]\nUUID=0xFFF1\nFlags=read\n"
      "[Descriptor s/c/d]\nUUID=0x2902\nFlags=read\n",
      { "2902", NULL, NULL } },
    { "[Advertising]\nManufacturerData=0xffff:00112233445566778899aabbccddeeff00112233445566778899aabbccdd\n"
      "[Service s]\nUUID=0xFFF0\n[Characteristic s/c]\nUUID=0xFFF1\nFlags=read\n",
      { "byte", NULL, NULL } },
  };
  Files f;

  files_init (&f);
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (BpRun) run = check (&f, cases[i].text, strlen (cases[i].text));
      g_test_message ("case %u: %s", i, run->err);
      assert_handled (run, cases[i].text, strlen (cases[i].text), "known error");
      g_assert_cmpint (run->status, ==, 1);
      for (guint w = 0; cases[i].words[w] != NULL; w++)
        if (strstr (run->err, cases[i].words[w]) == NULL)
          g_error ("case %u: the message does not say \"%s\": %s", i, cases[i].words[w], run->err);
    }
  files_clear (&f);
}

static void
test_missing_file (void)
{
  const char *args[] = { "--check-config", "--config", "/nonexistent/dir/" FILE_NAME, NULL };
  g_autoptr (BpRun) run = bp_run_daemon (args, 10000);

  g_assert_true (run->exited);
  g_assert_cmpint (run->status, ==, 1);
  g_assert_nonnull (strstr (run->err, FILE_NAME));
}

static void
test_truncated (void)
{
  gsize len = strlen (full_config);
  guint runs = 0, refused = 0;
  Files f;

  files_init (&f);
  /* Every cut at a line end or just before it, and every 5th byte. */
  for (gsize cut = 0; cut < len; cut++)
    {
      g_autoptr (BpRun) run = NULL;
      g_autofree char *what = NULL;

      if (cut % 5 != 0 && full_config[cut] != '\n' && full_config[cut + 1] != '\n')
        continue;
      run = check (&f, full_config, cut);
      what = g_strdup_printf ("truncated at byte %" G_GSIZE_FORMAT, cut);
      assert_handled (run, full_config, cut, what);
      runs++;
      refused += run->status == 1;
    }
  g_test_message ("%u truncations, %u refused", runs, refused);
  g_assert_cmpuint (refused, >, 0);
  files_clear (&f);
}

static void
test_garbage (void)
{
  g_autoptr (GRand) rand = NULL;
  guint32 seed = g_test_rand_int ();
  guint refused = 0;
  Files f;
  static const char *const fragments[] = {
    "[",
    "]",
    "[Service ",
    "[Characteristic ",
    "[Descriptor ",
    "[Advertising]",
    "[Peripheral]",
    "[Control]",
    "=",
    "\n",
    "UUID=",
    "Flags=",
    "read",
    "write",
    "notify",
    ",",
    "0x",
    "ffff",
    "\"",
    "\\",
    "\\x",
    "/",
    "s/c",
    "MaxLength=",
    "99999999999999999999999",
    "-1",
    "Format=",
    "sint16",
    "Exponent=",
    "-128",
    "Initial=",
    "24.58",
    "ms",
    "Interval=",
    "ManufacturerData=",
    ":",
    "ServiceData=",
    "Value=",
    "\xff\xfe",
    "\xc3",
    "\t",
    " ",
    "#",
    ";",
    "Data=",
    "020106",
    "Timeout=",
    "1e308",
    "nan",
    "QueueLength=0",
    "Unit=",
    "Description=",
  };

  g_test_message ("garbage seed %u", seed);
  rand = g_rand_new_with_seed (seed);
  files_init (&f);
  for (guint i = 0; i < 150; i++)
    {
      g_autoptr (GByteArray) data = g_byte_array_new ();
      g_autoptr (BpRun) run = NULL;
      g_autofree char *what = NULL;
      guint kind = i % 3;
      guint n = g_rand_int_range (rand, 1, 400);

      for (guint k = 0; k < n; k++)
        {
          if (kind == 0)
            {
              /* raw bytes, NULs included */
              guint8 b = g_rand_int_range (rand, 0, 256);
              g_byte_array_append (data, &b, 1);
            }
          else
            {
              /* key-file shaped garbage; kind 2 starts from a valid file */
              const char *frag = fragments[g_rand_int_range (rand, 0, G_N_ELEMENTS (fragments))];
              if (kind == 2 && k == 0)
                g_byte_array_append (data, (const guint8 *) full_config,
                                     g_rand_int_range (rand, 0, strlen (full_config)));
              g_byte_array_append (data, (const guint8 *) frag, strlen (frag));
            }
        }
      run = check (&f, data->data, data->len);
      what = g_strdup_printf ("garbage %u (seed %u)", i, seed);
      assert_handled (run, data->data, data->len, what);
      refused += run->status == 1;
    }
  /* Raw bytes are never a valid configuration. */
  g_assert_cmpuint (refused, >=, 50);
  /* A huge line and a huge file. */
  {
    g_autoptr (GString) big = g_string_new ("[Peripheral]\nName=");
    g_autoptr (BpRun) run = NULL;
    for (guint k = 0; k < 200000; k++)
      g_string_append_c (big, 'a' + k % 26);
    g_string_append (big, "\n");
    for (guint k = 0; k < 2000; k++)
      g_string_append_printf (big, "[Service s%u]\nUUID=0x%04X\n", k, 0x1000 + k);
    run = check (&f, big->str, big->len);
    assert_handled (run, big->str, big->len, "huge file");
  }
  files_clear (&f);
}

int
main (int argc, char **argv)
{
  bp_test_init (&argc, &argv);
  bp_test_add ("/check-config/good", test_good);
  bp_test_add ("/check-config/default-file", test_default_file);
  bp_test_add ("/check-config/known-errors", test_known_errors);
  bp_test_add ("/check-config/missing-file", test_missing_file);
  bp_test_add ("/check-config/truncated", test_truncated);
  bp_test_add ("/check-config/garbage", test_garbage);
  return g_test_run ();
}
