#include <libmemcached/memcached.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned char keys[400][260]; static size_t klen[400]; static int kid[400]; static int nkeys;

static void load(const char *path) {
  FILE *f = fopen(path, "r"); char line[2048];
  fgets(line, sizeof line, f);
  while (fgets(line, sizeof line, f)) {
    char shape[64], hex[1024]; int id, len;
    if (sscanf(line, "%d\t%63s\t%d\t%1023s", &id, shape, &len, hex) != 4) continue;
    kid[nkeys] = id; klen[nkeys] = strlen(hex)/2;
    for (size_t i = 0; i < klen[nkeys]; i++) { unsigned v; sscanf(hex + 2*i, "%2x", &v); keys[nkeys][i] = v; }
    nkeys++;
  }
}

struct srv { const char *host; int port; int weight; };

/* mode: 0 = CONSISTENT_KETAMA (unweighted unless a weight > 1), 1 = KETAMA_WEIGHTED behavior then key hash */
static void config(const char *name, int mode, memcached_hash_t hash, struct srv *s, int n) {
  memcached_st *m = memcached_create(NULL);
  if (mode == 1) {
    memcached_behavior_set(m, MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED, 1);
  } else {
    memcached_behavior_set(m, MEMCACHED_BEHAVIOR_DISTRIBUTION, MEMCACHED_DISTRIBUTION_CONSISTENT_KETAMA);
  }
  memcached_behavior_set(m, MEMCACHED_BEHAVIOR_HASH, hash);
  for (int i = 0; i < n; i++) {
    memcached_return_t rc;
    if (s[i].host[0] == '/') rc = memcached_server_add_unix_socket_with_weight(m, s[i].host, s[i].weight);
    else rc = memcached_server_add_with_weight(m, s[i].host, s[i].port, s[i].weight);
    if (rc != MEMCACHED_SUCCESS) { fprintf(stderr, "add failed %s\n", memcached_strerror(m, rc)); exit(1); }
  }
  printf("#config\t%s\t%d\t%d\t", name, mode, (int)hash);
  for (int i = 0; i < n; i++) printf("%s%s:%d:%d", i ? "," : "", s[i].host, s[i].port, s[i].weight);
  printf("\n");
  for (int k = 0; k < nkeys; k++) {
    uint32_t idx = memcached_generate_hash(m, (const char *)keys[k], klen[k]);
    printf("%s\t%d\t%u\n", name, kid[k], idx);
  }
  memcached_free(m);
}

/* "more" mode: KETAMA_SPY, MODULA, MURMUR3, and the weighted flag decided by the order of
 * calls. order 0: distribution (and behaviours) first, servers added after; order 1: servers
 * first, then the distribution. The flag the library ends with is printed
 * (memcached_behavior_get(MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED)), and larder-ring must be told
 * the same. */
static void config2(const char *name, int weighted_behavior, memcached_server_distribution_t dist, int order,
                    memcached_hash_t hash, struct srv *s, int n) {
  memcached_st *m = memcached_create(NULL);
  /* KETAMA_WEIGHTED also sets the MD5 hash, so the hash comes after it; the distribution
   * comes last because setting the hash does not rebuild the continuum (libmemcached keeps
   * the points hashed with whatever hash was set when it last built them). */
  if (order == 0) {
    if (weighted_behavior) memcached_behavior_set(m, MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED, 1);
    memcached_behavior_set(m, MEMCACHED_BEHAVIOR_HASH, hash);
    memcached_behavior_set(m, MEMCACHED_BEHAVIOR_DISTRIBUTION, dist);
  }
  for (int i = 0; i < n; i++) {
    memcached_return_t rc = memcached_server_add_with_weight(m, s[i].host, s[i].port, s[i].weight);
    if (rc != MEMCACHED_SUCCESS) { fprintf(stderr, "add failed %s\n", memcached_strerror(m, rc)); exit(1); }
  }
  if (order == 1) {
    if (weighted_behavior) memcached_behavior_set(m, MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED, 1);
    memcached_behavior_set(m, MEMCACHED_BEHAVIOR_HASH, hash);
    memcached_behavior_set(m, MEMCACHED_BEHAVIOR_DISTRIBUTION, dist);
  }
  int weighted = (int)memcached_behavior_get(m, MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED);
  int key_hash = (int)memcached_behavior_get(m, MEMCACHED_BEHAVIOR_HASH);
  printf("#config\t%s\t%d\t%d\t%d\t", name, (int)dist, weighted, key_hash);
  for (int i = 0; i < n; i++) printf("%s%s:%d:%d", i ? "," : "", s[i].host, s[i].port, s[i].weight);
  printf("\n");
  for (int k = 0; k < nkeys; k++) {
    uint32_t idx = memcached_generate_hash(m, (const char *)keys[k], klen[k]);
    printf("%s\t%d\t%u\n", name, kid[k], idx);
  }
  memcached_free(m);
}

static int more(void) {
  const memcached_server_distribution_t SPY = MEMCACHED_DISTRIBUTION_CONSISTENT_KETAMA_SPY,
    MOD = MEMCACHED_DISTRIBUTION_MODULA, KET = MEMCACHED_DISTRIBUTION_CONSISTENT_KETAMA;
  struct srv s4[] = {{"10.0.0.1",11211,1},{"10.0.0.2",11211,1},{"10.0.0.3",11212,1},{"10.0.0.4",22122,1}};
  struct srv w4[] = {{"10.0.0.1",11211,1},{"10.0.0.2",11211,2},{"10.0.0.3",11212,3},{"10.0.0.4",22122,5}};
  struct srv w3[] = {{"127.0.0.1",31211,1},{"127.0.0.1",31212,2},{"127.0.0.1",31213,3}};
  config2("lmm_spy_md5_S4", 0, SPY, 0, MEMCACHED_HASH_MD5, s4, 4);
  config2("lmm_spy_fnv1a64_S4", 0, SPY, 0, MEMCACHED_HASH_FNV1A_64, s4, 4);
  config2("lmm_spy_weighted_md5_W4", 1, SPY, 1, MEMCACHED_HASH_MD5, w4, 4);
  config2("lmm_spy_autoweight_md5_W4", 0, SPY, 0, MEMCACHED_HASH_MD5, w4, 4);
  config2("lmm_modula_md5_W4", 0, MOD, 0, MEMCACHED_HASH_MD5, w4, 4);
  config2("lmm_modula_oaat_S4", 0, MOD, 0, MEMCACHED_HASH_DEFAULT, s4, 4);
  config2("lmm_modula_crc_S4", 0, MOD, 0, MEMCACHED_HASH_CRC, s4, 4);
  config2("lmm_modula_murmur3_W4", 0, MOD, 1, MEMCACHED_HASH_MURMUR3, w4, 4);
  config2("lmm_ketama_murmur3_S4", 0, KET, 0, MEMCACHED_HASH_MURMUR3, s4, 4);
  /* KETAMA_WEIGHTED, then DISTRIBUTION=CONSISTENT_KETAMA: the second call clears the flag */
  config2("lmm_weighted_then_ketama_murmur3_W4", 1, KET, 1, MEMCACHED_HASH_MURMUR3, w4, 4);
  config2("lmm_consistent_weighted_murmur3_W4", 0, MEMCACHED_DISTRIBUTION_CONSISTENT_WEIGHTED, 1,
          MEMCACHED_HASH_MURMUR3, w4, 4);
  /* weights 1, 2, 3 added first, CONSISTENT_KETAMA set after: an unweighted ring */
  config2("lmm_ketama_after_weights_W3", 0, KET, 1, MEMCACHED_HASH_MD5, w3, 3);
  /* the same calls the other way round: adding weight 2 sets the flag */
  config2("lmm_ketama_before_weights_W3", 0, KET, 0, MEMCACHED_HASH_MD5, w3, 3);
  return 0;
}

int main(int argc, char **argv) {
  load(argv[1]);
  if (argc > 2 && strcmp(argv[2], "more") == 0) return more();
  if (argc > 2 && strcmp(argv[2], "murmur3") == 0) {
    printf("key_id\tmurmur3\n");
    for (int k = 0; k < nkeys; k++)
      printf("%d\t%u\n", kid[k], memcached_generate_hash_value((const char *)keys[k], klen[k], MEMCACHED_HASH_MURMUR3));
    return 0;
  }
  if (argc > 2 && strcmp(argv[2], "hashes") == 0) {
    printf("key_id\tmd5\tone_at_a_time\tfnv1_64\tfnv1a_64\tfnv1_32\tfnv1a_32\tcrc32\tmurmur\tjenkins\n");
    for (int k = 0; k < nkeys; k++) {
      printf("%d", kid[k]);
      memcached_hash_t hs[] = {MEMCACHED_HASH_MD5, MEMCACHED_HASH_DEFAULT, MEMCACHED_HASH_FNV1_64, MEMCACHED_HASH_FNV1A_64,
        MEMCACHED_HASH_FNV1_32, MEMCACHED_HASH_FNV1A_32, MEMCACHED_HASH_CRC, MEMCACHED_HASH_MURMUR, MEMCACHED_HASH_JENKINS};
      for (int h = 0; h < 9; h++) printf("\t%u", memcached_generate_hash_value((const char *)keys[k], klen[k], hs[h]));
      printf("\n");
    }
    return 0;
  }
  struct srv a[] = {{"10.0.0.1",11211,1},{"10.0.0.2",11211,1},{"10.0.0.3",11211,1},{"10.0.0.4",11211,1}};
  config("lmx_weighted_md5_default_port", 1, MEMCACHED_HASH_MD5, a, 4);
  struct srv b[] = {{"cache-a.example.com",11211,7},{"cache-b.example.com",11311,13},{"10.1.2.3",22122,1},{"10.1.2.4",11211,100},{"10.1.2.5",11212,3}};
  config("lmx_weighted_md5_odd_weights", 1, MEMCACHED_HASH_MD5, b, 5);
  struct srv c[] = {{"127.0.0.1",31211,1},{"127.0.0.1",31212,1},{"127.0.0.1",31213,1},{"127.0.0.1",31214,1}};
  config("lmx_ketama_fnv1a32_S4", 0, MEMCACHED_HASH_FNV1A_32, c, 4);
  config("lmx_ketama_oaat_S4", 0, MEMCACHED_HASH_DEFAULT, c, 4);
  config("lmx_ketama_crc_S4", 0, MEMCACHED_HASH_CRC, c, 4);
  config("lmx_weighted_fnv1a64_S4", 1, MEMCACHED_HASH_FNV1A_64, c, 4);
  config("lmx_weighted_murmur_S4", 1, MEMCACHED_HASH_MURMUR, c, 4);
  config("lmx_weighted_jenkins_S4", 1, MEMCACHED_HASH_JENKINS, c, 4);
  config("lmx_weighted_fnv1_32_S4", 1, MEMCACHED_HASH_FNV1_32, c, 4);
  struct srv d[] = {{"/var/run/memcached/a.sock",0,1},{"127.0.0.1",31212,2},{"/tmp/mc.sock",0,1}};
  config("lmx_weighted_md5_unix", 1, MEMCACHED_HASH_MD5, d, 3);
  struct srv e[] = {{"127.0.0.1",31211,1},{"127.0.0.1",31212,3},{"127.0.0.1",31213,1}};
  config("lmx_ketama_md5_autoweight", 0, MEMCACHED_HASH_MD5, e, 3);
  struct srv f[11]; static char hn[11][32];
  for (int i = 0; i < 11; i++) { snprintf(hn[i], 32, "node%02d.cache.internal", i); f[i].host = hn[i]; f[i].port = 11211 + (i % 3); f[i].weight = 1 + (i * 37) % 11; }
  config("lmx_weighted_md5_W11", 1, MEMCACHED_HASH_MD5, f, 11);
  /* weights whose point counts differ between float and double arithmetic */
  struct srv g[] = {{"127.0.0.1",31211,2},{"127.0.0.1",31212,18},{"127.0.0.1",31213,6},{"127.0.0.1",31214,16},{"127.0.0.1",31215,8}};
  config("lmx_weighted_md5_f32", 1, MEMCACHED_HASH_MD5, g, 5);
  return 0;
}
