# Held-out style check: ordinary gawk (associative arrays, string functions,
# floating point), knowing nothing of ckpt. Run with -l time for sleep().
BEGIN {
  steps = ARGV[1] ? ARGV[1] : 30
  x = 1
  for (i = 0; i < steps; i++) {
    x = (x * 48271) % 2147483647
    s = s sprintf("%c", 97 + x % 26)
    count[substr(s, length(s))]++
    printf "%d %d %s %.6f %d\n", i, x, substr(s, length(s) > 8 ? length(s) - 7 : 1), sqrt(x), length(count)
    fflush()
    sleep(0.1)
  }
}
