// Prints its arguments, its whole environment and a few selected variables,
// then exits with argc. The harness gives the guest exactly one variable
// (MEMMGR_TEST=1): anything else in the environment is a leak from the host.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>

extern char** environ;

int main(int argc, char** argv) {
  printf("argc %d\n", argc);
  for (int i = 0; i < argc; ++i) {
    printf("argv[%d] \"%s\" (%zu bytes)\n", i, argv[i], strlen(argv[i]));
  }
  printf("argv[argc] %s\n", argv[argc] == NULL ? "NULL" : "not NULL");

  int envc = 0;
  for (char** e = environ; *e != NULL; ++e) ++envc;
  printf("envc %d\n", envc);
  for (int i = 0; i < envc; ++i) printf("env[%d] %s\n", i, environ[i]);

  static const char* const kSelected[] = {"MEMMGR_TEST", "HOME", "PATH",
                                          "LD_PRELOAD", "QEMU_LD_PREFIX"};
  for (size_t i = 0; i < sizeof(kSelected) / sizeof(kSelected[0]); ++i) {
    const char* v = getenv(kSelected[i]);
    printf("getenv(%s) %s%s%s\n", kSelected[i], v ? "\"" : "",
           v ? v : "(unset)", v ? "\"" : "");
  }
  // The auxiliary vector: only the values the ABI fixes.
  printf("AT_PAGESZ %lu\n", getauxval(AT_PAGESZ));
  printf("AT_SECURE %lu\n", getauxval(AT_SECURE));
  return argc;
}
