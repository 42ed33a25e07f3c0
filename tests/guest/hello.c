// The smallest guest: a few lines through stdio, exit status 0.
#include <stdio.h>

int main(void) {
  printf("hello, world\n");
  printf("from a static RV64 guest (%zu-byte pointers, %zu-byte long)\n",
         sizeof(void*), sizeof(long));
  puts("bye");
  return 0;
}
