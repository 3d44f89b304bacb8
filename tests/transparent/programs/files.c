/* Reads an input file line by line and writes an output file, slowly; also
   sums a file through a shared read-only mmap. The output file must end up
   identical to an uninterrupted run's. Usage: files IN OUT */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc < 3) return 2;
  FILE* in = fopen(argv[1], "r");
  FILE* out = fopen(argv[2], "w");
  int fd = open(argv[1], O_RDONLY);
  struct stat st;
  fstat(fd, &st);
  unsigned char* map = mmap(0, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
  if (!in || !out || map == MAP_FAILED) return 3;
  char line[256];
  int n = 0;
  while (fgets(line, sizeof line, in)) {
    unsigned long sum = 0;
    for (off_t i = 0; i < st.st_size; i++) sum += map[i];
    fprintf(out, "%d %lu %s", n, sum, line);
    fflush(out);
    printf("line %d\n", n++);
    fflush(stdout);
    usleep(50000);
  }
  fclose(out);
  printf("done %d\n", n);
  return 0;
}
