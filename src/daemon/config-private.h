/* What the parts of the configuration share. config.c reads and merges the
 * files, resolves the groups into the GATT database and describes the result;
 * config-values.c reads the keys' typed values and words the errors;
 * config-advertising.c reads the [Advertising] group and Data=, checks that the
 * advertising data and the scan response fit 31 bytes and describes the
 * advertisement. Not for the other modules: they use config.h. */
#pragma once

#include "daemon/config.h"

G_BEGIN_DECLS

#define DEFAULT_SOURCE "built-in default"
#define US_PER_MS G_GUINT64_CONSTANT (1000)
#define US_PER_S G_GUINT64_CONSTANT (1000000)

/* The merged key file: groups and keys in order of first appearance, each
 * key remembering the file its value came from. */
typedef struct {
  char *key;
  char *value;      /* raw (escapes untouched), stripped */
  const char *file; /* label: "ble-peripheral.conf" or "conf.d/NAME.conf" */
} Entry;

typedef struct {
  char *name;       /* "Characteristic env/temperature" */
  const char *file; /* the file that declared it first */
  GPtrArray *entries;
} Group;

typedef struct {
  GPtrArray *groups;
  GHashTable *by_name;
  GPtrArray *labels; /* owns the file labels */
} Merged;

/* The fields of the legacy advertising data, in the order the size check
 * adds them up. */
typedef enum {
  FIELD_FLAGS,
  FIELD_NAME,
  FIELD_APPEARANCE,
  FIELD_SERVICE_UUIDS,
  FIELD_SOLICIT_UUIDS,
  FIELD_MANUFACTURER_DATA,
  FIELD_SERVICE_DATA,
  FIELD_TX_POWER,
  FIELD_DATA,
  N_FIELDS,
} AdField;

/* Where an advertising field was set, for the size error. */
typedef struct {
  const char *file;
  const char *group;
  const char *key;
} FieldOrigin;

/* What resolving the merged groups into a BpConfig keeps. */
typedef struct {
  Merged merged;
  BpConfig *config;
  const char *main_label;
  Group *peripheral, *advertising, *control, *security;
  GPtrArray *char_groups; /* of Group* */
  GPtrArray *desc_groups; /* of Group* */
  GHashTable *services;   /* id → BpServiceConfig* */
  GHashTable *chars;      /* "s/c" → BpCharacteristicConfig* */
  gboolean name_explicit;
  gboolean discoverable_explicit, limited_explicit, tx_power_explicit;
  FieldOrigin origins[N_FIELDS];
} Loader;

/* config.c */

Entry *config_group_find (const Group *g, const char *key);

/* config-values.c */

/* "FILE: [GROUP] KEY: message", in BP_ERROR_CONFIG */
void config_key_error (GError **error, const Group *g, const Entry *e, const char *format, ...) G_GNUC_PRINTF (4, 5);
/* "FILE: [GROUP] message", in BP_ERROR_CONFIG */
void config_group_error (GError **error, const Group *g, const char *format, ...) G_GNUC_PRINTF (3, 4);
gboolean config_check_keys (const Group *g, const char *const *known, GError **error);
gboolean config_parse_bool (const Group *g, const Entry *e, gboolean *out, GError **error);
gboolean config_scan_u64 (const char *text, guint64 *out, gboolean *overflow);
gboolean config_parse_uint (const Group *g, const Entry *e, guint min, guint max, guint *out, GError **error);
gboolean config_parse_int (const Group *g, const Entry *e, int min, int max, int *out, GError **error);
gboolean config_parse_duration (const Group *g, const Entry *e, guint64 max_us, guint64 *out, GError **error);
gboolean config_parse_text (const Group *g, const Entry *e, gsize max_len, char **out, GError **error);
GPtrArray *config_split_list (const char *value);
gboolean config_parse_uuid (const Group *g, const Entry *e, const char *text, BpUuid *out, GError **error);
gboolean config_parse_value (const Group *g, const Entry *e, BpFormat format, int exponent, GBytes **out,
                             GError **error);
void config_append_uuid (GString *s, const BpUuid *uuid);
void config_append_bytes (GString *s, GBytes *bytes);
void config_append_duration (GString *s, guint64 us);

/* config-advertising.c */

/* The defaults of a BpAdvertisingConfig, and freeing what it holds. */
void config_advertising_init (BpAdvertisingConfig *a);
void config_advertising_clear (BpAdvertisingConfig *a);
void config_set_origin (Loader *l, AdField f, const char *group, const Entry *e);
gboolean config_load_advertising (Loader *l, const Group *g, GError **error);
/* origins NULL: each field is blamed on fallback_file and its usual key. */
gboolean config_check_advertising_size (const BpConfig *config, const FieldOrigin *origins, const char *fallback_file,
                                        GError **error);
/* The "advertising:" part of bp_config_describe(). */
void config_describe_advertising (GString *s, const BpConfig *config);

/* config-security.c */

void config_security_init (BpSecurityConfig *s);
gboolean config_load_security (Loader *l, const Group *g, GError **error);
/* After the characteristics and descriptors: combinations of [Security] and
 * the security flags that can never work are errors; encrypt-* and secure-*
 * flags with Pairing=off are warnings (l->config->warnings). */
gboolean config_check_security (Loader *l, GError **error);
/* The "security:" line of bp_config_describe(). */
void config_describe_security (GString *s, const BpConfig *config);

G_END_DECLS
