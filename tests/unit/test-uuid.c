/* Unit tests of src/common/uuid.c: the textual forms, the SIG names, the
 * short forms used in advertising data. */
#define G_LOG_DOMAIN "test-uuid"

#include "build-config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include <glib.h>

#include "common/error.h"
#include "common/uuid.h"

/* Parses text and returns the 128-bit string (static buffer). */
static const char *
parsed (const char *text)
{
  static char buf[BP_UUID_STRLEN];
  g_autoptr (GError) error = NULL;
  BpUuid uuid;

  if (!bp_uuid_parse (text, &uuid, &error))
    {
      print_error ("'%s': %s\n", text, error->message);
      fail ();
    }
  bp_uuid_to_string (&uuid, buf);
  return buf;
}

static void
test_16bit_forms (void **state)
{
  assert_string_equal (parsed ("0x180A"), "0000180a-0000-1000-8000-00805f9b34fb");
  assert_string_equal (parsed ("180A"), "0000180a-0000-1000-8000-00805f9b34fb");
  assert_string_equal (parsed ("180a"), "0000180a-0000-1000-8000-00805f9b34fb");
  assert_string_equal (parsed ("0X2a6e"), "00002a6e-0000-1000-8000-00805f9b34fb");
  assert_string_equal (parsed ("0xFFFF"), "0000ffff-0000-1000-8000-00805f9b34fb");
  assert_string_equal (parsed ("0000"), "00000000-0000-1000-8000-00805f9b34fb");
}

static void
test_32bit_forms (void **state)
{
  BpUuid uuid;

  assert_string_equal (parsed ("0x0000180A"), "0000180a-0000-1000-8000-00805f9b34fb");
  assert_string_equal (parsed ("12345678"), "12345678-0000-1000-8000-00805f9b34fb");
  assert_string_equal (parsed ("0xDEADBEEF"), "deadbeef-0000-1000-8000-00805f9b34fb");

  assert_true (bp_uuid_parse ("12345678", &uuid, NULL));
  assert_int_equal (bp_uuid_short_size (&uuid), 4);
  /* A 32-bit form of a 16-bit UUID travels as 16 bits. */
  assert_true (bp_uuid_parse ("0x0000180A", &uuid, NULL));
  assert_int_equal (bp_uuid_short_size (&uuid), 2);
}

static void
test_128bit_forms (void **state)
{
  BpUuid uuid;
  guint16 u16 = 1234;

  assert_string_equal (parsed ("6E400001-B5A3-F393-E0A9-E50E24DCCA9E"), "6e400001-b5a3-f393-e0a9-e50e24dcca9e");
  assert_true (bp_uuid_parse ("6e400001-b5a3-f393-e0a9-e50e24dcca9e", &uuid, NULL));
  assert_int_equal (uuid.bytes[0], 0x6e);
  assert_int_equal (uuid.bytes[15], 0x9e);
  assert_int_equal (bp_uuid_short_size (&uuid), 16);
  assert_false (bp_uuid_to_u16 (&uuid, &u16));
  assert_int_equal (u16, 0);

  /* The Base UUID form of a 16-bit UUID is that UUID. */
  assert_true (bp_uuid_parse ("0000181A-0000-1000-8000-00805F9B34FB", &uuid, NULL));
  assert_int_equal (bp_uuid_short_size (&uuid), 2);
  assert_true (bp_uuid_to_u16 (&uuid, &u16));
  assert_int_equal (u16, 0x181A);
}

static void
test_sig_names (void **state)
{
  static const struct {
    const char *name;
    guint16 value;
  } cases[] = {
    { "generic_access", 0x1800 },
    { "device_information", 0x180A },
    { "heart_rate", 0x180D },
    { "battery_service", 0x180F },
    { "battery", 0x180F },
    { "environmental_sensing", 0x181A },
    { "Environmental_Sensing", 0x181A },
    { "environmental-sensing", 0x181A },
    { "Environmental Sensing", 0x181A },
    { "temperature", 0x2A6E },
    { "TEMPERATURE", 0x2A6E },
    { "humidity", 0x2A6F },
    { "battery_level", 0x2A19 },
    { "device_name", 0x2A00 },
    { "user_description", 0x2901 },
    { "presentation_format", 0x2904 },
    { "client_characteristic_configuration", 0x2902 },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      BpUuid uuid;
      guint16 u16 = 0;

      if (!bp_uuid_parse (cases[i].name, &uuid, &error))
        {
          print_error ("%s: %s\n", cases[i].name, error->message);
          fail ();
        }
      assert_true (bp_uuid_to_u16 (&uuid, &u16));
      assert_int_equal (u16, cases[i].value);
    }
}

static void
test_errors (void **state)
{
  static const char *const bad[] = {
    "",
    "0x",
    "180",
    "0x180",
    "180AB",
    "0x180G",
    "xyz",
    "0x1234567",
    "123456789",
    "6E400001B5A3F393E0A9E50E24DCCA9E",      /* no dashes */
    "6E400001-B5A3-F393-E0A9-E50E24DCCA9",   /* short */
    "6E400001-B5A3-F393-E0A9-E50E24DCCA9EE", /* long */
    "6E400001_B5A3-F393-E0A9-E50E24DCCA9E",  /* wrong separator */
    "6E40000G-B5A3-F393-E0A9-E50E24DCCA9E",  /* not hex */
    " 180A",
    "180A ",
    "-180A",
    "temperature_",
    "0xtemperature",
  };

  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = NULL;
      BpUuid uuid;

      if (bp_uuid_parse (bad[i], &uuid, &error))
        {
          print_error ("'%s' parsed\n", bad[i]);
          fail ();
        }
      assert_true (g_error_matches (error, BP_ERROR, BP_ERROR_BAD_VALUE));
      assert_non_null (strstr (error->message, "is not a UUID: expected 16-bit (0x180A or 180A)"));
      assert_non_null (strstr (error->message, "128-bit (0000180a-0000-1000-8000-00805f9b34fb)"));
    }

  {
    g_autoptr (GError) error = NULL;
    BpUuid uuid;
    assert_false (bp_uuid_parse ("nope", &uuid, &error));
    assert_string_equal (error->message,
                         "'nope' is not a UUID: expected 16-bit (0x180A or 180A), 32-bit "
                         "(0x0000180A), 128-bit (0000180a-0000-1000-8000-00805f9b34fb) or a SIG "
                         "name such as environmental_sensing");
  }
}

static void
test_from_u16_equal (void **state)
{
  BpUuid a, b, c;
  guint16 v = 0;

  bp_uuid_from_u16 (0x2A6E, &a);
  assert_true (bp_uuid_parse ("temperature", &b, NULL));
  assert_true (bp_uuid_equal (&a, &b));
  bp_uuid_from_u16 (0x2A6F, &c);
  assert_false (bp_uuid_equal (&a, &c));
  assert_int_equal (bp_uuid_short_size (&a), 2);
  assert_true (bp_uuid_to_u16 (&c, &v));
  assert_int_equal (v, 0x2A6F);
  /* out may be NULL */
  assert_true (bp_uuid_to_u16 (&c, NULL));
}

static void
test_to_string_lower_case (void **state)
{
  char buf[BP_UUID_STRLEN];
  BpUuid uuid;

  assert_true (bp_uuid_parse ("0xABCD", &uuid, NULL));
  bp_uuid_to_string (&uuid, buf);
  assert_string_equal (buf, "0000abcd-0000-1000-8000-00805f9b34fb");
  assert_int_equal (strlen (buf), BP_UUID_STRLEN - 1);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_16bit_forms),
    cmocka_unit_test (test_32bit_forms),
    cmocka_unit_test (test_128bit_forms),
    cmocka_unit_test (test_sig_names),
    cmocka_unit_test (test_errors),
    cmocka_unit_test (test_from_u16_equal),
    cmocka_unit_test (test_to_string_lower_case),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
