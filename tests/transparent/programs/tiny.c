/* A shared library of our own, to test refusing a changed library. */
int tiny_step(int i) { return i * 2 + 1; }
